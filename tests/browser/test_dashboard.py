"""The dashboard in a real headless Chromium against a real daemon on loopback: a job submitted from the page
shows up and its progress moves without a reload, the data browser lists the run file's instructions, the
token login sets an HttpOnly cookie, and no page asks anything of a host other than the daemon."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from service.helpers import Daemon, sim_backend, wait_until
from workers.simulated import SimConfig, start_in_thread

pytestmark = pytest.mark.browser

TOKEN = "browser-token-0123456789abcdef"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    # ~25 requests/s in all: a 150-instruction job runs for a while, so the page can watch it move.
    with start_in_thread(SimConfig(latency_ms=40, seed=5), port=0) as sim:
        d = Daemon(tmp_path_factory.mktemp("browser") / "state", config={
            "backends": {"sim": sim_backend(sim.url, rpm=1500, max_concurrency=4)}})
        d.start()
        try:
            yield d
        finally:
            d.stop()


def _progress_text(browser, job: str) -> str | None:
    return browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e && e.textContent", f"#job-{job} .progress-text")


def _loopback_only(browser, base: str) -> None:
    """Every resource the page loaded, and every URL in its HTML, is on the daemon's own host."""
    entries = browser.execute_script(
        "return performance.getEntries().map(e => e.name).filter(n => /^[a-z]+:/.test(n))")
    assert entries, "the page loaded nothing at all"
    for name in entries:
        assert name.startswith(base + "/"), name
    # Every address the HTML itself names (generated text may mention URLs; that is data, not a request).
    for url in re.findall(r"""(?:src|href|action|data-src)=["']?([^"'\s>]+)|url\(([^)]*)\)""", browser.page_source):
        url = "".join(url)
        assert urlsplit(url).hostname in (None, "127.0.0.1"), url


def test_submitted_job_shows_up_and_its_progress_moves_without_reload(daemon, browser):
    from selenium.webdriver.common.by import By

    browser.get(daemon.base + "/")
    browser.execute_script("window.__sameDocument = 'yes'")  # gone if the page reloads
    form = browser.find_element(By.ID, "submit")
    form.find_element(By.NAME, "model").clear()
    form.find_element(By.NAME, "model").send_keys("sim-davinci-001")
    count = form.find_element(By.NAME, "num_instructions")
    count.clear()
    count.send_keys("150")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    message = wait_until(lambda: re.search(r"submitted job (\w+)", browser.find_element(By.ID, "submit-msg").text),
                         timeout=15, what="the page to confirm the submitted job")
    job = message.group(1)
    assert daemon.job(job)["spec"]["num_instructions"] == 150  # the form's values reached the API
    first = wait_until(lambda: _progress_text(browser, job),
                       timeout=15, what="the job's row on the jobs page")
    changed = wait_until(lambda: (t := _progress_text(browser, job)) != first and t, timeout=30,
                         what=f"the progress text to change from {first!r}")
    assert re.fullmatch(r"\d+ / 150 accepted \(\d+%\)", changed)
    assert browser.execute_script("return window.__sameDocument") == "yes"
    _loopback_only(browser, daemon.base)

    # The data browser while the job runs: its first page is the run file's first 25 rows, in order
    # (the live export rewrites the file in commit order, so rows only ever get appended).
    run_file = daemon.state_dir / "jobs" / job / "machine_generated_instructions.jsonl"
    wait_until(lambda: run_file.exists() and len(run_file.read_text().splitlines()) >= 25, timeout=60,
               what="the live export to write 25 accepted instructions")
    browser.get(f"{daemon.base}/ui/jobs/{job}/data")
    shown = [td.get_attribute("textContent") for td in browser.find_elements(By.CSS_SELECTOR, "td.instruction")]
    on_disk = [json.loads(line)["instruction"] for line in run_file.read_text().splitlines()]
    assert len(shown) == 25 and shown == on_disk[:25]
    assert daemon.job(job)["state"] == "running"  # it was read while the job ran
    _loopback_only(browser, daemon.base)

    browser.get(f"{daemon.base}/ui/jobs/{job}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3
    _loopback_only(browser, daemon.base)

    # The buttons drive the JSON API: pause, then cancel, and the row follows.
    browser.get(daemon.base + "/")

    def click(action: str, state: str) -> None:
        # The table is swapped in anew every 2 s, so an element found a moment ago may be gone: retry.
        from selenium.common.exceptions import StaleElementReferenceException

        def press() -> bool:
            try:
                button = browser.find_element(By.CSS_SELECTOR, f'#job-{job} button[data-action="{action}"]')
                if not button.is_enabled():
                    return False
                button.click()
                return True
            except StaleElementReferenceException:
                return False

        wait_until(press, timeout=15, what=f"the {action} button to be pressed")
        wait_until(lambda: browser.execute_script(
            "const r = document.getElementById(arguments[0]); return r && r.dataset.state", f"job-{job}") == state,
            timeout=30, what=f"the row to say {state}")

    click("pause", "paused")
    assert daemon.job(job)["state"] == "paused"
    click("cancel", "cancelled")
    assert daemon.wait_state(job, ("cancelled",))["state"] == "cancelled"


def test_token_login_sets_an_httponly_cookie(tmp_path, browser):
    from selenium.webdriver.common.by import By

    d = Daemon(tmp_path / "state", args=("--token-env", "DASH_TOKEN"), env={"DASH_TOKEN": TOKEN}, token=TOKEN)
    d.start()
    try:
        browser.get(d.base + "/")
        form = browser.find_element(By.ID, "login")
        form.find_element(By.NAME, "token").send_keys("wrong")
        form.find_element(By.CSS_SELECTOR, "button").click()
        wait_until(lambda: browser.find_element(By.ID, "msg").text == "wrong token", timeout=10,
                   what="the login page to say the token is wrong")
        field = form.find_element(By.NAME, "token")
        field.clear()
        field.send_keys(TOKEN)
        form.find_element(By.CSS_SELECTOR, "button").click()
        wait_until(lambda: browser.find_elements(By.ID, "jobs-wrap"), timeout=10, what="the jobs page after login")
        cookie = browser.get_cookie("selfinstruct_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
        assert browser.execute_script("return document.cookie") == ""  # no script of the page can read it
        browser.refresh()  # the cookie keeps the session: no second login
        assert browser.find_elements(By.ID, "jobs-wrap") and not browser.find_elements(By.ID, "login")
        _loopback_only(browser, d.base)
    finally:
        d.stop()
