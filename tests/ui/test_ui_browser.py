"""The page in a real browser: Debian's Chromium, headless, driven by Selenium through
chromedriver (both from apt; nothing is downloaded). Uploads a reference and test photos,
ticks the same-person tests, clicks Verify, checks the table against the service's own
answer and saves a screenshot (verify.png) with the time from click to verdicts
(browser.json) under runs/ui/, or, with FACE_UI_REFRESH=1, the committed reports/ui/."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest

from client import FaceClient
from tests.conftest import DATA_DIR, REPO
from tests.ui.conftest import chromium

pytestmark = pytest.mark.integration

# A test run leaves the committed example alone unless asked to refresh it.
OUT = REPO / ("reports" if os.environ.get("FACE_UI_REFRESH") == "1" else "runs") / "ui"
WAIT = 60


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def photo_set(ui_app, example_photos) -> tuple[Path, list[Path], list[int]]:
    """The seed-0 LFW 1 + 15 set when the data is there (else the scikit-image photos), plus
    a broken photo; and which tests show the reference person."""
    if ui_app.has_data:
        from ui import samples

        sample = samples.load(DATA_DIR, 0)
        reference, tests, same = sample.reference, list(sample.tests), sample.same_indices
    else:
        reference = example_photos["reference.jpg"]
        tests, same = [example_photos[n] for n in ("group.jpg", "other.jpg", "cat.jpg")], [0]
    return reference, tests + [example_photos["broken.jpg"]], same


def table_rows(driver) -> list[list[str]]:
    """The table's body cells, read in one go (the grid re-renders as it settles)."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#table [role=row]')]
            .map(row => [...row.querySelectorAll('[role=gridcell]')].map(cell => cell.innerText.trim()))
            .filter(cells => cells.length);""")


def verdict_column(rows: list[list[str]]) -> list[str]:
    return [row[2] for row in rows]  # columns: #, photo, match, score, faces, error


def test_verify_in_the_browser(browser, ui_app, example_photos):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    reference, tests, same = photo_set(ui_app, example_photos)
    wait = WebDriverWait(browser, WAIT)
    browser.get(ui_app.url)
    wait.until(lambda d: "Served threshold" in d.find_element(By.ID, "summary").text)

    browser.find_element(By.CSS_SELECTOR, "#reference input[type=file]").send_keys(str(reference))
    browser.find_element(By.CSS_SELECTOR, "#tests input[type=file]").send_keys("\n".join(map(str, tests)))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#marks input[type=checkbox]")) == len(tests))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#reference img"))
    boxes = browser.find_elements(By.CSS_SELECTOR, "#marks input[type=checkbox]")
    for i in same:
        browser.execute_script("arguments[0].click();", boxes[i])

    # Counts the answers shown: the page clears the summary on each click, then fills it in.
    browser.execute_script("""
        window.answersShown = 0;
        let showing = false;
        const summary = document.getElementById('summary');
        new MutationObserver(() => {
            const answer = summary.innerText.includes('test photos:');
            if (answer && !showing) window.answersShown += 1;
            showing = answer;
        }).observe(summary, {subtree: true, childList: true, characterData: true});""")

    def click_and_wait() -> float:
        shown = browser.execute_script("return window.answersShown")
        started = time.perf_counter()
        browser.find_element(By.ID, "verify").click()
        WebDriverWait(browser, WAIT, poll_frequency=0.02).until(lambda d: d.execute_script(
            "return window.answersShown > arguments[0]"
            " && document.querySelectorAll('#table [role=gridcell]').length == arguments[1]",
            shown, 6 * len(tests)))  # the table's 6 columns
        return time.perf_counter() - started

    first = click_and_wait()  # warms up the page's and the server's first-call costs
    seconds = [click_and_wait() for _ in range(3)]
    rows = table_rows(browser)
    summary = browser.find_element(By.ID, "summary").text
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#sheet img")))

    with FaceClient(ui_app.server.base_url, token=ui_app.server.token) as service:
        direct = service.verify(reference, tests)  # the slider sits at the served threshold
    expected = ["error" if r.error else "MATCH" if r.match else "no match" for r in direct.results]
    assert verdict_column(rows) == expected
    assert expected[-1] == "error" and any("not_an_image" in c for c in rows[-1])
    answered = [r for i, r in enumerate(direct.results) if r.error is None]
    accepted = sum(bool(r.match) for i, r in enumerate(direct.results) if i in same and r.error is None)
    rejected = sum(r.match is False for i, r in enumerate(direct.results) if i not in same and r.error is None)
    assert (f"accepted {accepted} / {len(same)} of the same person, rejected {rejected} / "
            f"{len(answered) - len(same)} others") in summary

    OUT.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(int(height) + 200, 4000))
    time.sleep(0.5)
    shot = OUT / "verify.png"
    assert browser.save_screenshot(str(shot))
    (OUT / "browser.json").write_text(json.dumps({
        "command": "FACE_UI_REFRESH=1 make test PYTEST_ARGS=tests/ui/test_ui_browser.py",
        "photos": f"1 reference + {len(tests)} tests" + (" (LFW peopleDevTest seed 0 + 1 broken)"
                                                         if ui_app.has_data else " (scikit-image)"),
        "click_to_verdicts_s": {"first": round(first, 3), "warm": [round(s, 3) for s in seconds]},
        "cpu_count": psutil.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
    }, indent=2) + "\n")
    print(f"\nclick to verdicts: first {first:.2f} s, warm {', '.join(f'{s:.2f}' for s in seconds)} s; {shot}")
