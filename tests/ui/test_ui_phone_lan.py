"""The pieces of `python -m ui --lan` alone (no service, no browser): the certificate made and
kept, the login gate in front of a small stand-in app, sessions that expire, failed logins
limited per client address, and the command line's defaults."""
from __future__ import annotations

import hashlib
import ipaddress
import socket
import stat

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ui import lan
from ui.__main__ import parse
from ui.login import COOKIE, FAILURES_PER_WINDOW, FailureLimiter, LoginGate, SessionSigner, password_check

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gate(clock: Clock | None = None, lifetime_s: float = 3600, **limits) -> TestClient:
    clock = clock or Clock()
    inner = Starlette(routes=[Route("/", lambda r: PlainTextResponse("the page")),
                              Route("/gradio_api/info", lambda r: PlainTextResponse("{}"), methods=["GET", "POST"])])
    app = LoginGate(inner, password_check(lambda: PASSWORD, lambda: None),
                    SessionSigner(lifetime_s, clock=clock), FailureLimiter(clock=clock, **limits))
    return TestClient(app, base_url="https://testserver")


def test_the_certificate_is_made_once_kept_and_names_this_machine(tmp_path):
    from cryptography import x509

    state = tmp_path / "tls"
    made = lan.certificate(state_dir=state, addresses=["192.0.2.7"])
    kept = lan.certificate(state_dir=state, addresses=["192.0.2.7"])
    assert made.made_now and not kept.made_now
    assert kept.fingerprint == made.fingerprint
    assert stat.S_IMODE((state / lan.KEY_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    cert = x509.load_pem_x509_certificate(made.cert.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("127.0.0.1")} <= set(
        alt.get_values_for_type(x509.IPAddress))
    assert socket.gethostname() in alt.get_values_for_type(x509.DNSName)
    from cryptography.hazmat.primitives.serialization import Encoding

    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    assert made.fingerprint.replace(":", "") == digest
    moved = lan.certificate(state_dir=state, addresses=["198.51.100.3"])  # a new address: a new certificate
    assert moved.made_now and moved.fingerprint != made.fingerprint


def test_the_users_own_certificate_is_used_as_it_is(tmp_path):
    own = lan.certificate(state_dir=tmp_path / "made", addresses=[])
    used = lan.certificate(own.cert, own.key, state_dir=tmp_path / "unused")
    assert (used.cert, used.key, used.fingerprint) == (own.cert, own.key, own.fingerprint)
    assert not (tmp_path / "unused").exists()
    with pytest.raises(ValueError):
        lan.certificate(own.cert, None)


def test_the_terminal_shows_address_fingerprint_and_a_qr_code(tmp_path):
    tls = lan.certificate(state_dir=tmp_path, addresses=["192.0.2.7"])
    text = lan.banner(7860, tls, ["192.0.2.7"], ["$FACE_UI_PASSWORD"])
    assert "https://192.0.2.7:7860/" in text and tls.fingerprint in text and "$FACE_UI_PASSWORD" in text
    assert "\u2588" in text  # the QR code's blocks
    alone = lan.banner(7860, tls, [], ["$FACE_UI_PASSWORD"])  # --host 127.0.0.1: no address for a phone
    assert "this machine only" in alone and "\u2588" not in alone


def test_without_a_session_nothing_is_served():
    client = gate()
    assert client.get("/gradio_api/info").status_code == 401
    assert client.post("/gradio_api/info").json() == {"error": "not logged in", "login": "/login"}
    page = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    client.cookies.set(COOKIE, "9999999999.forged.c2lnbmF0dXJl")
    assert client.get("/gradio_api/info").status_code == 401


def test_login_wrong_then_right_and_the_cookie_is_locked_down():
    client = gate()
    wrong = client.post("/login", data={"password": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong password" in wrong.text
    right = client.post("/login", data={"password": PASSWORD}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/"
    cookie = right.headers["set-cookie"].lower()
    assert all(flag in cookie for flag in ("httponly", "secure", "samesite=strict", "max-age=3600"))
    assert client.get("/").text == "the page"
    client.post("/logout", follow_redirects=False)
    assert client.get("/gradio_api/info").status_code == 401


def test_sessions_expire():
    clock = Clock()
    client = gate(clock, lifetime_s=12 * 3600)
    client.post("/login", data={"password": PASSWORD}, follow_redirects=False)
    clock.now += 12 * 3600 - 60
    assert client.get("/gradio_api/info").status_code == 200
    clock.now += 120
    assert client.get("/gradio_api/info").status_code == 401


def test_failed_logins_are_limited_per_address_then_allowed_again():
    clock = Clock()
    client = gate(clock)
    codes = [client.post("/login", data={"password": f"guess {i}"}).status_code
             for i in range(FAILURES_PER_WINDOW)]
    assert codes == [401] * (FAILURES_PER_WINDOW - 1) + [429]
    refused = client.post("/login", data={"password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    clock.now += 61
    assert client.post("/login", data={"password": PASSWORD}, follow_redirects=False).status_code == 303


def test_the_service_key_is_read_at_each_login(tmp_path):
    keys = iter(["first key", "rotated key"])
    check = password_check(lambda: None, lambda: next(keys))
    assert check("first key")
    assert not check("first key")  # the key file now holds the rotated key
    unreadable = password_check(lambda: (_ for _ in ()).throw(OSError("gone")))
    assert not unreadable("anything")


def test_lan_listens_on_every_interface_and_plain_stays_on_loopback():
    assert parse([]).host == "127.0.0.1" and not parse([]).lan
    assert parse(["--lan"]).host == "0.0.0.0"
    assert parse(["--lan", "--host", "127.0.0.1"]).host == "127.0.0.1"
    with pytest.raises(SystemExit):
        parse(["--lan", "--cert", "c.pem"])  # a certificate without its key


def test_lan_refuses_to_start_without_a_login(tmp_path, monkeypatch, capsys):
    from client.client import KEY_FILE_ENV
    from ui.__main__ import PASSWORD_ENV, main

    monkeypatch.chdir(tmp_path)  # no key_file.json here
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    assert main(["--lan", "--state", str(tmp_path / "tls")]) == 2
    assert "needs a login" in capsys.readouterr().err
    assert not (tmp_path / "tls").exists()  # refused before anything was made
