"""The page on a phone: `python -m ui --lan` (what `make ui LAN=1` runs) against the session's
real TorchServe, over HTTPS with the self-signed certificate it makes on first use, in headless
Chromium emulating a 390 px wide phone whose camera plays a clip (bench/clips.py camera_loop,
scaled up to 960x720 so the page has to shrink the frames it sends). Chromium trusts that one
certificate by its public key, as a user who checked the fingerprint would.

The login is refused with a wrong password and accepted with the right one; without a session
every route answers 401 (or, for a page, sends to the login) and no tab renders; each tab fits
390 px without sideways scrolling; the Live tab asks for the rear camera, switches to the front
one, and names both people right on >= 95% of samples (its frames/s and delay are figures,
not pass marks). Screenshots and the figures (phone.json) go under runs/ui/, or, with
FACE_UI_REFRESH=1, the committed reports/ui/.

The page is bound to 127.0.0.1 here (the same server `--lan` runs on 0.0.0.0): the tests reach it there."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import ssl
import stat
import time
from datetime import UTC, datetime

import psutil
import pytest
import requests

pytest.importorskip("trackers")

from bench import clips  # noqa: E402
from tests.conftest import REPO, free_ports  # noqa: E402
from tests.ui.conftest import chromium, running_page  # noqa: E402
from tests.ui.test_ui_live_browser import names, shown_captions  # noqa: E402

pytestmark = pytest.mark.integration

OUT = REPO / ("reports" if os.environ.get("FACE_UI_REFRESH") == "1" else "runs") / "ui"
COMMAND = "FACE_UI_REFRESH=1 make test PYTEST_ARGS=tests/ui/test_ui_phone.py"
PHONE_WIDTH = 390
PHONE = {"deviceMetrics": {"width": PHONE_WIDTH, "height": 844, "pixelRatio": 2.0, "touch": True},
         "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/131.0.0.0 Mobile Safari/537.36"}
CAMERA_SIZE = (960, 720)  # larger than the detector's 640: the page must scale it down before sending
LONGEST_SENT = 640
TAP_PX = 44  # the usual smallest touch target
SAMPLE_FOR_S = 20
SAMPLE_EVERY_S = 0.25
RIGHT_SHARE = 0.95
PASSWORD = secrets.token_urlsafe(12)
FINGERPRINT = re.compile(r"SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})")


@pytest.fixture(scope="module")
def lan_page(torchserve_server, tmp_path_factory):
    """`python -m ui --lan` on a free port with a fresh state folder (so it makes its certificate)
    and $FACE_UI_PASSWORD set: `.url`, `.cert` (the certificate file it made), `.log`."""
    port = free_ports(1)[0]
    folder = tmp_path_factory.mktemp("ui_lan")
    state, log = folder / "tls", folder / "ui.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(folder / "gradio"),
           "FACE_UI_PASSWORD": PASSWORD}
    url, cert = f"https://127.0.0.1:{port}/", state / "cert.pem"
    arguments = ["--lan", "--host", "127.0.0.1", "--port", str(port), "--state", str(state),
                 "--url", torchserve_server.base_url, "--key-file", str(torchserve_server.workdir / "key_file.json"),
                 "--gallery", str(folder / "gallery")]

    def ready() -> bool:
        return cert.exists() and requests.get(url + "login", timeout=2, verify=str(cert)).status_code == 200

    with running_page(arguments, env, log, ready):
        yield type("LanPage", (), {"url": url, "port": port, "cert": cert, "state": state, "log": log,
                                   "server": torchserve_server})


def trusted_key(cert_path) -> str:
    """The certificate's public key as Chromium's --ignore-certificate-errors-spki-list takes it
    (base64 SHA-256 of the SubjectPublicKeyInfo): only this certificate is let through."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    """camera_loop scaled up to CAMERA_SIZE, as a Y4M file for Chromium's fake camera."""
    import cv2

    clip = clips.camera_loop()
    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{CAMERA_SIZE[0]} H{CAMERA_SIZE[1]} F{round(clip.fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for _, frame in clip.frames():
            big = cv2.resize(frame, CAMERA_SIZE, interpolation=cv2.INTER_LINEAR)
            out.write(b"FRAME\n" + cv2.cvtColor(big, cv2.COLOR_RGB2YUV_I420).tobytes())
    return clip, path


@pytest.fixture(scope="module")
def phone(lan_page, camera_clip):
    _, y4m = camera_clip
    yield from chromium(f"--ignore-certificate-errors-spki-list={trusted_key(lan_page.cert)}",
                        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                        f"--use-file-for-fake-video-capture={y4m}", mobile=PHONE)


def logged_in_cookie(lan_page) -> str:
    answer = requests.post(lan_page.url + "login", data={"password": PASSWORD}, verify=str(lan_page.cert),
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text[:300]
    return answer.cookies["face_ui_session"]


def tabs(driver) -> dict:
    from selenium.webdriver.common.by import By

    return {t.text.strip(): t for t in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if t.text.strip()}


def open_logged_in(phone, lan_page) -> None:
    """The page on the phone, through the login form when there is no session yet (the test
    runs alone)."""
    from selenium.webdriver.common.by import By

    phone.get(lan_page.url)
    if phone.current_url.endswith("/login"):
        phone.find_element(By.ID, "password").send_keys(PASSWORD)
        phone.find_element(By.ID, "login").click()


def open_live_tab(phone, lan_page):
    """The page on the phone (open_logged_in), on its Live tab: the 60 s wait the test goes on with."""
    from selenium.webdriver.support.ui import WebDriverWait

    open_logged_in(phone, lan_page)
    wait = WebDriverWait(phone, 60)
    wait.until(lambda d: "Live" in tabs(d))
    tabs(phone)["Live"].click()
    return wait


def page_width(driver) -> int:
    return driver.execute_script("return document.documentElement.scrollWidth")


def test_the_certificate_is_the_one_the_terminal_shows(lan_page):
    served = ssl.get_server_certificate(("127.0.0.1", lan_page.port))
    der = ssl.PEM_cert_to_DER_cert(served)
    printed = FINGERPRINT.search(lan_page.log.read_text())
    assert printed, lan_page.log.read_text()[-2000:]
    assert printed.group(1) == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert stat.S_IMODE((lan_page.state / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(lan_page.state.stat().st_mode) == 0o700
    with pytest.raises(requests.ConnectionError):  # HTTPS only: plain HTTP gets no page
        requests.get(f"http://127.0.0.1:{lan_page.port}/", timeout=5)


def test_without_a_session_every_route_is_refused(lan_page):
    verify = str(lan_page.cert)
    for method, path in [("GET", "config"), ("GET", "gradio_api/info"), ("POST", "gradio_api/queue/join"),
                         ("POST", "gradio_api/call/live_frame"), ("GET", "gradio_api/upload_progress"),
                         ("GET", "theme.css")]:
        answer = requests.request(method, lan_page.url + path, verify=verify, timeout=10, allow_redirects=False)
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert answer.json()["error"] == "not logged in"
    page = requests.get(lan_page.url, headers={"Accept": "text/html"}, verify=verify, timeout=10,
                        allow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].endswith("/login")
    forged = "9999999999.abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert requests.get(lan_page.url + "config", cookies={"face_ui_session": forged}, verify=verify,
                        timeout=10).status_code == 401
    cookie = logged_in_cookie(lan_page)
    assert requests.get(lan_page.url + "config", cookies={"face_ui_session": cookie}, verify=verify,
                        timeout=10).status_code == 200


def test_login_on_a_phone_refused_then_accepted(phone, lan_page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    phone.get(lan_page.url)
    wait = WebDriverWait(phone, 60)
    wait.until(lambda d: d.find_elements(By.ID, "password"))
    assert phone.current_url.endswith("/login")
    assert not tabs(phone)
    assert page_width(phone) <= PHONE_WIDTH
    assert phone.find_element(By.ID, "login").size["height"] >= TAP_PX
    phone.find_element(By.ID, "password").send_keys("not the password")
    phone.find_element(By.ID, "login").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".note"))
    assert "Wrong password" in phone.find_element(By.CSS_SELECTOR, ".note").text
    assert phone.current_url.endswith("/login") and not tabs(phone)
    OUT.mkdir(parents=True, exist_ok=True)
    assert phone.save_screenshot(str(OUT / "phone_login.png"))
    phone.find_element(By.ID, "password").send_keys(PASSWORD)
    phone.find_element(By.ID, "login").click()
    wait.until(lambda d: {"Verify", "Identify", "Live"} <= set(tabs(d)))
    assert phone.current_url == lan_page.url


def test_every_tab_fits_a_phone_screen(phone, lan_page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not tabs(phone):  # run alone: log in first
        requests_cookie = logged_in_cookie(lan_page)
        phone.get(lan_page.url + "login")
        phone.add_cookie({"name": "face_ui_session", "value": requests_cookie, "secure": True})
        phone.get(lan_page.url)
    wait = WebDriverWait(phone, 60)
    wait.until(lambda d: {"Verify", "Identify", "Live"} <= set(tabs(d)))
    for name in ["Verify", "Identify", "Live"]:
        tabs(phone)[name].click()
        time.sleep(1.0)
        assert page_width(phone) <= PHONE_WIDTH, f"{name}: {page_width(phone)} px wide"
        small = phone.execute_script(
            "return [...document.querySelectorAll('button')].filter(b => b.offsetParent !== null"
            " && b.getBoundingClientRect().height > 2 && (b.getBoundingClientRect().height < arguments[0]"
            " || b.getBoundingClientRect().width < arguments[0])).map(b => (b.innerText || b.title"
            " || b.getAttribute('aria-label') || b.className).trim().slice(0, 40))", TAP_PX)
        assert not small, f"{name}: buttons smaller than {TAP_PX} px: {small}"
    assert phone.find_element(By.ID, "live-switch").size["height"] >= TAP_PX


def test_verify_on_a_phone(phone, lan_page, example_photos):
    """Photos in, verdicts out, at phone width: the verdicts table and summary stay inside the
    screen and the summary is in reading size."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(phone, 60)
    open_logged_in(phone, lan_page)
    wait.until(lambda d: "Served threshold" in d.find_element(By.ID, "summary").text)
    tests = [example_photos[n] for n in ("group.jpg", "other.jpg", "cat.jpg")]
    phone.find_element(By.CSS_SELECTOR, "#reference input[type=file]").send_keys(str(example_photos["reference.jpg"]))
    phone.find_element(By.CSS_SELECTOR, "#tests input[type=file]").send_keys("\n".join(map(str, tests)))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#marks input[type=checkbox]")) == len(tests))
    phone.find_element(By.ID, "verify").click()
    wait.until(lambda d: "test photos:" in d.find_element(By.ID, "summary").text)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#table [role=gridcell]")) >= len(tests))
    summary = phone.find_element(By.ID, "summary")
    assert "1 match" in summary.text, summary.text  # the astronaut is in the group photo only
    assert page_width(phone) <= PHONE_WIDTH
    size = phone.execute_script("return parseFloat(getComputedStyle(arguments[0].querySelector('p')).fontSize)",
                                summary)
    assert size >= 17, f"the verdict summary is in {size} px type"
    phone.execute_script("arguments[0].scrollIntoView({block: 'start'})", summary)
    time.sleep(0.5)
    OUT.mkdir(parents=True, exist_ok=True)
    assert phone.save_screenshot(str(OUT / "phone_verify.png"))


def test_the_browser_scales_large_camera_frames_to_the_detector_size(phone, lan_page):
    """The page's script scales a camera frame larger than 640 px as the Live webcam draws it for
    sending: here a 1280x720 'camera' (a canvas stream) in a video inside the Live tab."""
    from selenium.webdriver.common.by import By

    wait = open_live_tab(phone, lan_page)
    wait.until(lambda d: d.find_elements(By.ID, "live-camera"))
    drawn = phone.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const source = Object.assign(document.createElement('canvas'), {width: 1280, height: 720});
        source.getContext('2d').fillRect(0, 0, 1280, 720);
        const video = Object.assign(document.createElement('video'), {muted: true, srcObject: source.captureStream()});
        document.querySelector('#live-camera').appendChild(video);
        video.play().then(() => {
            const canvas = document.createElement('canvas');
            canvas.width = video.videoWidth; canvas.height = video.videoHeight;
            canvas.getContext('2d').drawImage(video, 0, 0, video.videoWidth, video.videoHeight);
            // a canvas drawn from anything but the Live tab's video is left alone
            const other = Object.assign(document.createElement('canvas'), {width: 1280, height: 720});
            other.getContext('2d').drawImage(source, 0, 0, 1280, 720);
            video.remove();
            done([video.videoWidth, video.videoHeight, canvas.width, canvas.height, other.width, other.height]);
        });""")
    assert drawn == [1280, 720, 640, 360, 1280, 720], drawn


def enrol_through_the_page(lan_page, clip, folder) -> None:
    from gradio_client import Client, handle_file
    from PIL import Image

    cookie = logged_in_cookie(lan_page)
    page = Client(lan_page.url, verbose=False, headers={"Cookie": f"face_ui_session={cookie}"},
                  ssl_verify=ssl.create_default_context(cafile=str(lan_page.cert)), analytics_enabled=False,
                  download_files=False)
    for person in clip.people:
        photo = folder / f"{person.name}.png"
        Image.fromarray(person.enrol[0]).save(photo)
        enrolled, _ = page.predict(person.name, [handle_file(str(photo))], api_name="/enroll")
        assert "1 photo enrolled" in enrolled, enrolled


def sample_names(driver, seconds: float) -> list[list[str]]:
    samples, started = [], time.monotonic()
    while time.monotonic() - started < seconds:
        samples.append(shown_captions(driver))
        time.sleep(SAMPLE_EVERY_S)
    return samples


def right_after_warm_up(samples, expected) -> tuple[float, int, list]:
    first = next((i for i, captions in enumerate(samples) if names(captions) == expected), None)
    assert first is not None, f"never both names: {samples[-5:]}"
    wrong = [captions for captions in samples[first:] if names(captions) != expected]
    return 1 - len(wrong) / len(samples[first:]), first, wrong


def test_live_tab_on_a_phone_names_the_people(phone, lan_page, camera_clip, tmp_path):
    from selenium.webdriver.common.by import By

    clip, _ = camera_clip
    enrol_through_the_page(lan_page, clip, tmp_path)
    wait = open_live_tab(phone, lan_page)
    camera = wait.until(lambda d: d.find_element(By.ID, "live-camera"))
    wait.until(lambda d: camera.find_element(By.CSS_SELECTOR, "div[title='grant webcam access'] button")).click()
    wait.until(lambda d: camera.find_elements(By.CSS_SELECTOR, "button.capture-button"))[0].click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live-names li"))
    asked = phone.execute_script("return window.faceUiCamera.asked.video")
    assert asked["facingMode"] == {"ideal": "environment"}, asked
    assert asked["width"] == {"ideal": 640}, asked

    expected = sorted(person.name for person in clip.people)
    samples = sample_names(phone, SAMPLE_FOR_S)
    figures = phone.find_element(By.ID, "live-figures").text
    right, first, wrong = right_after_warm_up(samples, expected)
    fps = float(re.search(r"([\d.]+) frames/s", figures).group(1))
    delay = re.search(r"delay (\d+) ms median / (\d+) ms p95", figures)
    sent = tuple(int(v) for v in re.search(r"frames arrive at (\d+)x(\d+)", figures).groups())
    given = phone.execute_script("const v = document.querySelector('#live-camera video'); "
                                 "return [v.videoWidth, v.videoHeight]")  # what the camera gives the page
    assert page_width(phone) <= PHONE_WIDTH
    phone.execute_script("document.querySelector('#live-view').scrollIntoView({block: 'center'})")
    time.sleep(0.5)
    OUT.mkdir(parents=True, exist_ok=True)
    assert phone.save_screenshot(str(OUT / "phone_live.png"))

    phone.find_element(By.ID, "live-switch").click()  # to the front camera, while streaming
    wait.until(lambda d: d.execute_script("return window.faceUiCamera.facing") == "user")
    assert phone.execute_script("return window.faceUiCamera.asked.video.facingMode") == {"ideal": "user"}
    assert phone.find_element(By.ID, "live-switch").text == "Use the rear camera"
    # The fake camera is both cameras: the stream goes on, its tracks start again.
    samples_after = sample_names(phone, 8)
    after_switch, warm_up_after_switch, _ = right_after_warm_up(samples_after, expected)

    (OUT / "phone.json").write_text(json.dumps({
        "command": COMMAND,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "browser": f"headless Chromium, phone emulation {PHONE_WIDTH}x{PHONE['deviceMetrics']['height']} CSS px, "
                   f"HTTPS to python -m ui --lan (self-signed certificate, logged in)",
        "camera": f"Chromium fake camera: bench/clips.py camera_loop scaled to {CAMERA_SIZE[0]}x{CAMERA_SIZE[1]} "
                  f"at {clip.fps:g} fps, 2 faces",
        "camera_frames": f"{given[0]}x{given[1]}", "frames_sent": f"{sent[0]}x{sent[1]}",
        "samples": len(samples), "warm_up_samples": first, "right_share": round(right, 4),
        "after_switching_camera": {"samples": len(samples_after), "warm_up_samples": warm_up_after_switch,
                                   "right_share": round(after_switch, 4)},
        "page_frames_per_s": fps,
        "page_delay_ms": {"p50": int(delay.group(1)), "p95": int(delay.group(2))} if delay else None,
        "delay_measured": "in the page's server, from a frame's arrival to its answer leaving",
        "page_width_px": page_width(phone),
        "cpu_count": psutil.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
    }, indent=2) + "\n")
    print(f"\n{right:.1%} of {len(samples) - first} samples right after {first} warm-up samples; {figures}")
    assert max(sent) <= LONGEST_SENT, f"frames sent at {sent}"
    assert right >= RIGHT_SHARE, f"{right:.1%} right; wrong samples: {wrong[:10]}"
    assert fps > 0, figures  # its speed is a figure (reports/ui/phone.json), not a pass mark
