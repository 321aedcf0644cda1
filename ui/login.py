"""The login in front of the page on the local network: a small login page, a signed session
cookie that expires, failed logins limited per client address, and a gate that refuses every
other route (the page, its assets, Gradio's API and queue) without a valid session.

Gradio's own `auth=` is not used here: its sessions never expire and its login is not rate
limited."""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

COOKIE = "face_ui_session"
SESSION_S = 12 * 3600
FAILURES_PER_WINDOW = 5
FAILURE_WINDOW_S = 60.0
LOGIN_PATH, LOGOUT_PATH = "/login", "/logout"
MAX_FORM_BYTES = 4096


class SessionSigner:
    """Session cookies: an expiry time and a random id, signed with HMAC-SHA256 under a key
    made at start (a restart logs everyone out; nothing is stored)."""

    def __init__(self, lifetime_s: float = SESSION_S, key: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.lifetime_s, self.clock = lifetime_s, clock
        self.key = key or secrets.token_bytes(32)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self) -> str:
        body = f"{int(self.clock() + self.lifetime_s)}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str | None) -> bool:
        if not token or token.count(".") != 2:
            return False
        body, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return False
        expires = body.split(".", 1)[0]
        return expires.isdigit() and int(expires) > self.clock()


class FailureLimiter:
    """At most `failures` failed logins per `window_s` seconds from one client address; then
    that address waits until the oldest failure leaves the window."""

    def __init__(self, failures: int = FAILURES_PER_WINDOW, window_s: float = FAILURE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.window_s, self.clock = failures, window_s, clock
        self.seen: dict[str, deque] = {}
        self.lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """Seconds `address` must wait before its next try (0: it may try now)."""
        with self.lock:
            recent = self._recent(address)
            return 0.0 if len(recent) < self.failures else max(0.0, recent[0] + self.window_s - self.clock())

    def failed(self, address: str) -> None:
        with self.lock:
            self._recent(address).append(self.clock())

    def _recent(self, address: str) -> deque:
        now = self.clock()
        recent = self.seen.setdefault(address, deque())
        while recent and recent[0] + self.window_s <= now:
            recent.popleft()
        if len(self.seen) > 10_000:  # forget quiet addresses rather than grow without end
            for quiet in [a for a, times in self.seen.items() if not times and a != address]:
                del self.seen[quiet]
        return recent


def login_page(message: str = "", status: int = 200, headers: dict | None = None) -> HTMLResponse:
    note = f"<p class='note' role='alert'>{html.escape(message)}</p>" if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Face verification: log in</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 0; padding: 24px 16px; background: #f6f7f9; color: #111; }}
 main {{ max-width: 420px; margin: 0 auto; background: #fff; border-radius: 12px; padding: 20px;
        box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
 h1 {{ font-size: 1.3rem; margin: 0 0 12px; }}
 label {{ display: block; font-weight: 600; margin: 12px 0 6px; }}
 input, button {{ box-sizing: border-box; width: 100%; font-size: 1.05rem; min-height: 48px;
                 border-radius: 8px; }}
 input {{ border: 1px solid #999; padding: 0 12px; }}
 button {{ margin-top: 16px; border: 0; background: #ea580c; color: #fff; font-weight: 600; }}
 .note {{ background: #fee2e2; color: #7f1d1d; padding: 10px 12px; border-radius: 8px; }}
 .hint {{ color: #555; font-size: .9rem; }}
</style></head>
<body><main>
<h1>Face verification</h1>
{note}
<form method="post" action="{LOGIN_PATH}">
 <label for="password">Password or service key</label>
 <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
 <button id="login" type="submit">Log in</button>
</form>
<p class="hint">The password set on the machine serving this page ($FACE_UI_PASSWORD), or the service's
inference key (key_file.json). The session lasts {SESSION_S // 3600} hours.</p>
</main></body></html>"""
    return HTMLResponse(body, status_code=status, headers=headers)


def wants_page(scope) -> bool:
    """A browser asking for a page (sent to the login page) rather than an API call (401 JSON)."""
    if scope.get("method") != "GET" or scope["path"].startswith(("/gradio_api", "/config", "/info")):
        return False
    accept = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"accept"), "")
    return "text/html" in accept


def cookie_of(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE)
            if morsel is not None:
                return morsel.value
    return None


class LoginGate:
    """ASGI middleware: /login and /logout answer here; every other HTTP request and
    websocket needs a valid session cookie. `check(password)` says whether a login is right."""

    def __init__(self, app, check: Callable[[str], bool], signer: SessionSigner | None = None,
                 limiter: FailureLimiter | None = None) -> None:
        self.app, self.check = app, check
        self.signer = signer or SessionSigner()
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        if scope["type"] == "http" and path == LOGIN_PATH:
            response = await self.login(Request(scope, receive))
            return await response(scope, receive, send)
        if scope["type"] == "http" and path == LOGOUT_PATH:
            response = RedirectResponse(LOGIN_PATH, status_code=303)
            response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        if self.signer.valid(cookie_of(scope)):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        if wants_page(scope):
            response = RedirectResponse(LOGIN_PATH, status_code=303)
        else:
            response = JSONResponse({"error": "not logged in", "login": LOGIN_PATH}, status_code=401)
        await response(scope, receive, send)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return login_page()
        if request.method != "POST":
            return Response(status_code=405, headers={"Allow": "GET, POST"})
        address = request.client.host if request.client else "unknown"
        wait = self.limiter.wait_s(address)
        if wait > 0:
            return self.too_many(wait)
        body = await request.body()
        password = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace")).get("password", [""])[0]
        if not password or not self.check(password):
            self.limiter.failed(address)
            wait = self.limiter.wait_s(address)
            return self.too_many(wait) if wait > 0 else login_page("Wrong password or key.", status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, self.signer.issue(), max_age=int(self.signer.lifetime_s), path="/",
                            secure=True, httponly=True, samesite="strict")
        return response

    @staticmethod
    def too_many(wait_s: float) -> Response:
        seconds = max(1, int(wait_s + 0.999))
        return login_page(f"Too many failed logins: wait {seconds} s and try again.", status=429,
                          headers={"Retry-After": str(seconds)})


def password_check(*sources: Callable[[], str | None]) -> Callable[[str], bool]:
    """A check accepting whatever any of `sources` gives now (each is asked at every login, so
    a rotated service key is the one accepted), compared in constant time."""

    def check(password: str) -> bool:
        given = password.encode()
        right = False
        for source in sources:
            try:
                expected = source()
            except Exception:  # noqa: BLE001  (an unreadable key file is a failed login, not a crash)
                expected = None
            if expected:
                right |= hmac.compare_digest(given, expected.encode())
        return right

    return check
