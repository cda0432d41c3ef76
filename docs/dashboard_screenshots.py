"""Regenerate docs/dashboard_jobs.png, docs/dashboard_job.png and docs/dashboard_data.png.

Starts the simulated endpoint and ``selfinstruct serve`` on 127.0.0.1, submits
two jobs (one small, one larger against a rate-limited endpoint so 429s show),
and photographs the pages with the system Chromium (headless, through the
system chromedriver; nothing is downloaded). Run from the repository root:

    PYTHONPATH=$PWD python docs/dashboard_screenshots.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from tests.service.helpers import Daemon, job_spec, sim_backend  # noqa: E402
from workers.simulated import SimConfig, start_in_thread  # noqa: E402


def driver(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def shoot(browser: webdriver.Chrome, url: str, out: Path, *, settle: float = 0.5) -> None:
    browser.get(url)
    time.sleep(settle)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height, 600), 1500))
    time.sleep(0.3)
    browser.save_screenshot(str(out))
    browser.set_window_size(1280, 900)
    print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    docs = ROOT / "docs"
    # 150 RPM at the endpoint against 300 RPM for the backend: the big job meets 429s, as a real one would.
    with start_in_thread(SimConfig(latency_ms=150, latency_dist="uniform", latency_jitter_ms=100, seed=3, rpm=150),
                         port=0) as sim, tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp) / "state", config={"backends": {
            "sim": sim_backend(sim.url, rpm=300, max_concurrency=8),
            "lab-vllm": sim_backend(sim.url, models=["Qwen2.5-7B-Instruct"])}}).start()
        browser = driver()
        try:
            small = daemon.submit(job_spec(num_instructions=40, model="gpt-4o-mini"))
            daemon.wait_state(small, ("done",), timeout=180)
            big = daemon.submit(job_spec(num_instructions=400, model="gpt-4o-mini", seed=7))
            daemon.wait_accepted(big, 120, timeout=300)
            shoot(browser, daemon.base + "/", docs / "dashboard_jobs.png")
            shoot(browser, f"{daemon.base}/ui/jobs/{big}", docs / "dashboard_job.png")
            shoot(browser, f"{daemon.base}/ui/jobs/{small}/data?view=rejected", docs / "dashboard_data.png")
        finally:
            browser.quit()
            daemon.stop()


if __name__ == "__main__":
    main()
