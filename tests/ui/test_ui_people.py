"""The People tab in a real browser (headless Chromium) against the real service: a state
discovered by the CLI from scikit-image's astronaut and cameraman (each as shot and mirrored),
the page started with --people-state; the tab shows both groups, naming one through the page
makes the person identifiable at once in the served gallery, merging leaves one group."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from client.cli import main as cli_main
from tests.conftest import free_ports
from tests.ui.conftest import chromium, running_page

pytestmark = pytest.mark.integration

WAIT = 60
GALLERY = "people-page-test"  # the served gallery the page enrols named groups in


@pytest.fixture(scope="module")
def people_state(torchserve_server, example_photos, tmp_path_factory) -> Path:
    """`people discover` of four photos of two people (the astronaut, the cameraman)."""
    from PIL import Image, ImageOps

    photos = tmp_path_factory.mktemp("people_photos")
    for name in ("reference.jpg", "other.jpg"):
        with Image.open(example_photos[name]) as photo:
            photo.save(photos / name)
            ImageOps.mirror(photo).save(photos / f"mirrored_{name}")
    state = tmp_path_factory.mktemp("people_state")
    assert cli_main(["people", "discover", str(photos), "--url", torchserve_server.base_url,
                     "--token", torchserve_server.token, "--state", str(state)]) == 0
    return state


@pytest.fixture(scope="module")
def people_page(torchserve_server, people_state, tmp_path_factory):
    port = free_ports(1)[0]
    log = tmp_path_factory.mktemp("ui_people") / "ui.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio_people"))}
    env.pop("FACE_UI_PASSWORD", None)
    url = f"http://127.0.0.1:{port}/"
    arguments = ["--port", str(port), "--url", torchserve_server.base_url,
                 "--key-file", str(torchserve_server.workdir / "key_file.json"),
                 "--gallery-name", GALLERY, "--people-state", str(people_state)]
    with running_page(arguments, env, log, lambda: requests.get(url, timeout=2).status_code == 200):
        yield url


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def group_captions(driver) -> list[str]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#people-groups .caption-label')]
            .map(label => label.innerText.trim()).filter(text => text.startsWith('group '));""")


def type_into(driver, elem_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea, #{elem_id} input")
    box.clear()
    box.send_keys(text)


def act(driver, wait, button: str) -> str:
    """Clicks `button`, waits for the tab's answer (a new one: each says what it did) and returns it."""
    from selenium.webdriver.common.by import By

    before = driver.find_element(By.ID, "people-done").get_attribute("textContent").strip()
    driver.execute_script("arguments[0].click();", driver.find_element(By.ID, button))

    def answer(d) -> str | None:
        text = d.find_element(By.ID, "people-done").get_attribute("textContent").strip()
        return text if text not in ("", before) and "processing" not in text else None

    return wait.until(answer)


def group_of(state: Path, photo: str) -> str:
    from client.people.index import PeopleIndex

    return next(face.group for face in PeopleIndex.load(state).faces if Path(face.photo).name == photo)


def test_name_and_merge_groups_in_the_browser(browser, people_page, people_state, torchserve_server, example_photos):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from client import BadInputError, FaceClient
    from client.gallery import Gallery

    wait = WebDriverWait(browser, WAIT)
    browser.get(people_page)
    tab = wait.until(lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                                if t.text.strip() == "People"])
    tab[0].click()
    wait.until(lambda d: len(group_captions(d)) == 2)
    assert sorted(group_captions(browser)) == ["group g1 · unnamed · 2 faces", "group g2 · unnamed · 2 faces"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#people-groups img")) == 2  # thumbnails shown
    astronaut, cameraman = group_of(people_state, "reference.jpg"), group_of(people_state, "other.jpg")
    assert astronaut != cameraman and group_of(people_state, "mirrored_reference.jpg") == astronaut

    with Gallery(client=FaceClient(torchserve_server.base_url, token=torchserve_server.token),
                 name=GALLERY) as gallery:
        with pytest.raises(BadInputError, match="unknown_gallery"):
            gallery.people()  # nobody enrolled yet
        type_into(browser, "people-name-group", astronaut)
        type_into(browser, "people-name", "Eileen Collins")
        assert "is now Eileen Collins" in act(browser, wait, "people-name-go")
        wait.until(lambda d: f"group {astronaut} · Eileen Collins · 2 faces" in group_captions(d))
        # a photo the state never held: the astronaut, smaller, beside the cameraman
        found = gallery.identify(example_photos["group.jpg"])
        assert "Eileen Collins" in [face.identity for face in found.faces]

    type_into(browser, "people-merge-keep", astronaut)
    type_into(browser, "people-merge-other", cameraman)
    assert "merged" in act(browser, wait, "people-merge-go")
    wait.until(lambda d: len(group_captions(d)) == 1)
    assert group_captions(browser) == [f"group {astronaut} · Eileen Collins · 4 faces"]
    assert group_of(people_state, "other.jpg") == astronaut  # saved
