"""The review page in a real headless Chromium against a real daemon: create a review, rate 5 items with the
keyboard only, and check that the summary the page shows is the API's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for the shared helpers

from review.helpers import daemon_with_job  # noqa: E402
from service.helpers import free_port, wait_until  # noqa: E402

# The answers the rater types for the 5 items: valid_instruction, appropriate_input, correct_output.
TYPED = ["yyy", "yyn", "yny", "yyy", "nnn"]
STYLE = """
[review_templates.style]
criteria = [{name = "fluent", question = "Fluent?", scale = "1-5"}, {name = "safe", question = "Safe?"}]
"""


def pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


@pytest.fixture
def served(tmp_path, sim):
    port = free_port()
    # A page's fetch() sends an Origin header; this daemon allows its own.
    daemon, job = daemon_with_job(tmp_path, sim(latency_ms=1, seed=5).url, port=port,
                                  config={"allowed_origins": [f"http://127.0.0.1:{port}"]}, extra_toml=STYLE)
    yield daemon, job
    daemon.stop()


def test_rate_five_items_with_the_keyboard(served, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    daemon, job = served
    browser.set_window_size(1280, 1600)
    browser.get(daemon.base + "/reviews")
    form = browser.find_element(By.ID, "create")
    Select(form.find_element(By.NAME, "job")).select_by_value(job)
    size = form.find_element(By.NAME, "size")
    size.clear()
    size.send_keys("5")
    seed = form.find_element(By.NAME, "seed")
    seed.clear()
    seed.send_keys("42")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith("/rate"), timeout=20, what="the rate page")
    rid = browser.current_url.split("/")[-2]
    status, review = daemon.call("GET", f"/reviews/{rid}")
    assert status == 200 and review["size"] == 5 and review["seed"] == 42 and len(review["items"]) == 5

    name = wait_until(lambda: browser.find_elements(By.ID, "rater"), timeout=10, what="the name field")[0]
    name.send_keys("ann", Keys.ENTER)
    position = browser.find_element(By.ID, "position")
    wait_until(lambda: position.text == "Item 1 of 5", timeout=10, what="the first item")
    keys = ActionChains(browser)
    for n, answers in enumerate(TYPED):
        assert browser.find_element(By.ID, "item-id").text == review["items"][n]["id"]
        for key in answers:
            keys.send_keys(key).perform()
        keys.send_keys(Keys.ENTER).perform()
        wait_until(lambda n=n: browser.find_element(By.ID, "status").text == f"Saved item {n + 1}.", timeout=10,
                   what=f"item {n + 1} to be saved")

    status, body = daemon.call("GET", f"/reviews/{rid}/ratings?rater=ann")
    got = {r["item"]: r["answers"] for r in body["ratings"]}
    assert got == {item["id"]: {"valid_instruction": a[0] == "y", "appropriate_input": a[1] == "y",
                                "correct_output": a[2] == "y"} for item, a in zip(review["items"], TYPED)}

    # Two more raters through the API, so the page has Cohen's and Fleiss' kappa to show.
    for rater, flips in (("bob", {1}), ("cy", {0, 3})):
        for n, (item, a) in enumerate(zip(review["items"], TYPED)):
            answers = {c: (a[k] == "y") != (n in flips and k == 2)
                       for k, c in enumerate(("valid_instruction", "appropriate_input", "correct_output"))}
            assert daemon.call("POST", f"/reviews/{rid}/ratings",
                               {"rater": rater, "item": item["id"], "answers": answers})[0] == 201
    browser.refresh()
    _, summary = daemon.call("GET", f"/reviews/{rid}/summary")
    wait_until(lambda: browser.find_elements(By.ID, "fleiss-kappa"), timeout=10, what="the summary")
    for name in ("valid_instruction", "appropriate_input", "correct_output"):
        row = browser.find_element(By.CSS_SELECTOR, f"#summary-criteria tr[data-criterion={name}]")
        c = summary["criteria"][name]
        assert row.find_element(By.CLASS_NAME, "pass-rate").text == pct(c["pass_rate"])
        assert row.find_element(By.CLASS_NAME, "ci").text == f"{pct(c['ci'][0])} to {pct(c['ci'][1])}"
        assert row.find_element(By.CLASS_NAME, "n").text == str(c["n"])
    row = browser.find_element(By.CSS_SELECTOR, '#summary-criteria tr[data-criterion="all criteria valid"]')
    assert row.find_element(By.CLASS_NAME, "pass-rate").text == pct(summary["all_valid_rate"])
    for pair, by in summary["cohen_kappa"].items():
        cells = browser.find_elements(By.CSS_SELECTOR, f'#cohen-kappa tr[data-pair="{pair}"] td[data-criterion]')
        assert [c.text for c in cells] == ["n/a" if by[k] is None else f"{by[k]:.3f}" for k in
                                           ("valid_instruction", "appropriate_input", "correct_output")]
    assert len(summary["cohen_kappa"]) == 3
    cells = browser.find_elements(By.CSS_SELECTOR, "#fleiss-kappa td[data-criterion]")
    assert [c.text for c in cells] == ["n/a" if v is None else f"{v:.3f}" for v in
                                       (summary["fleiss_kappa"][k] for k in
                                        ("valid_instruction", "appropriate_input", "correct_output"))]

    # The rater comes back (her name is remembered): every item is rated, so she starts at the first, and the
    # arrows move on (saving the complete item again) and back, showing her saved answers.
    assert browser.find_element(By.ID, "rater").get_attribute("value") == "ann"
    browser.find_element(By.ID, "rater").send_keys(Keys.ENTER)
    position = browser.find_element(By.ID, "position")
    wait_until(lambda: position.text == "Item 1 of 5", timeout=10, what="ann's first item again")
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    wait_until(lambda: position.text == "Item 2 of 5", timeout=10, what="item 2")
    ActionChains(browser).send_keys(Keys.ARROW_LEFT).perform()
    wait_until(lambda: position.text == "Item 1 of 5", timeout=10, what="item 1")
    chosen = [b.get_attribute("data-value") for b in browser.find_elements(By.CSS_SELECTOR, "#criteria button.on")]
    assert chosen == ["true", "true", "true"]  # TYPED[0] == "yyy"

    shots = os.environ.get("SELFINSTRUCT_SCREENSHOTS")  # a folder: docs/review.png is made this way
    if shots:
        browser.set_window_size(1280, 2000)
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(Path(shots) / "review.png"))
        browser.set_window_size(1280, 1600)

    # A 1-5 criterion takes the digit keys; y/n do nothing there.
    status, styled = daemon.call("POST", f"/jobs/{job}/reviews", {"size": 2, "seed": 1, "template": "style"})
    assert status == 201
    browser.get(f"{daemon.base}/reviews/{styled['id']}/rate")
    wait_until(lambda: browser.find_elements(By.ID, "rater"), timeout=10, what="the rate page")
    browser.find_element(By.ID, "rater").send_keys(Keys.ENTER)  # the remembered name
    wait_until(lambda: browser.find_element(By.ID, "position").text == "Item 1 of 2", timeout=10, what="item 1")
    ActionChains(browser).send_keys("y", "7", "4", "n", Keys.ENTER).perform()
    wait_until(lambda: browser.find_element(By.ID, "status").text == "Saved item 1.", timeout=10, what="a save")
    _, body = daemon.call("GET", f"/reviews/{styled['id']}/ratings")
    assert [(r["rater"], r["answers"]) for r in body["ratings"]] == [("ann", {"fluent": 4, "safe": False})]

    # Nothing was fetched from another host: every resource the page loaded is the daemon's.
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(daemon.base + "/") for u in urls), urls
