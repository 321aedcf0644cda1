"""The page (python -m ui, as `make ui` runs it) against the session's real TorchServe, on a
free port; test photos from scikit-image, or the LFW sample set when the data is there."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import DATA_DIR, HAS_DATA, REPO, free_ports

START_TIMEOUT = 90
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def chromium(*flags: str, mobile: dict | None = None):
    """Debian's Chromium, headless, driven through chromedriver (a generator: yields the
    driver, then quits it); `flags` are added to the usual ones; `mobile`: chromedriver's
    mobileEmulation (deviceMetrics, userAgent) for a phone-sized page. Skips without Chromium."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Chromium not installed (apt-get install chromium chromium-driver; .ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1200",
                 "--hide-scrollbars", *flags):
        options.add_argument(flag)
    if mobile is not None:
        options.add_experimental_option("mobileEmulation", mobile)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def example_photos(tmp_path_factory) -> dict[str, Path]:
    """reference.jpg (astronaut), group.jpg (astronaut + cameraman), other.jpg, cat.jpg, and
    broken.jpg: a text file named like a photo."""
    folder = tmp_path_factory.mktemp("ui_photos")
    subprocess.run([sys.executable, "scripts/example_photos.py", str(folder)], cwd=REPO, check=True,
                   capture_output=True)
    (folder / "broken.jpg").write_text("this is not a photo\n")
    return {p.name: p for p in folder.iterdir()}


@pytest.fixture(scope="session")
def ui_app(torchserve_server, tmp_path_factory):
    """The running page: `.url`, plus the server it talks to."""
    port = free_ports(1)[0]
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    uploads = tmp_path_factory.mktemp("gradio")  # Gradio's file cache: what the page writes to disk
    # the People tab reads an empty state folder, never the user's
    env = {**os.environ, "DATA_DIR": str(DATA_DIR), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(uploads), "FACE_PEOPLE_STATE": str(tmp_path_factory.mktemp("people"))}
    env.pop("FACE_UI_PASSWORD", None)
    url = f"http://127.0.0.1:{port}/"
    arguments = ["--port", str(port), "--url", torchserve_server.base_url,
                 "--key-file", str(torchserve_server.workdir / "key_file.json"),
                 "--gallery", str(tmp_path_factory.mktemp("gallery") / "store")]
    with running_page(arguments, env, log, lambda: requests.get(url, timeout=2).status_code == 200):
        yield type("UiApp", (), {"url": url, "server": torchserve_server, "log": log, "has_data": HAS_DATA,
                                 "uploads": uploads})


@contextlib.contextmanager
def running_page(arguments: list[str], env: dict[str, str], log: Path, ready: Callable[[], bool]):
    """`python -m ui <arguments>` from the repository, its output in `log`, until the block ends;
    the block runs once `ready()` (a request that fails is not ready yet). The test fails if the
    page exits first or is not ready in START_TIMEOUT seconds."""
    command = "python -m ui --lan" if "--lan" in arguments else "python -m ui"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "ui", *arguments], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"{command} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if ready():
                    break
            except requests.RequestException:
                pass
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"the page did not come up in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
