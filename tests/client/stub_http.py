"""A scripted HTTP server on 127.0.0.1 (free port) for the client's error-mapping tests.

Each request pops the next scripted answer (or gets the default one) and is recorded.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict | list = b""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class StubServer:
    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.default = Answer(404, {"code": 404, "type": "ResourceNotFoundException",
                                    "message": "no scripted answer"})
        self.requests: list[Recorded] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
                answer = stub.answers.popleft() if stub.answers else stub.default
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.body
                content_type = "application/json"
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                elif isinstance(payload, str):
                    payload, content_type = payload.encode(), "text/plain"
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.headers.get("Content-Type", content_type))
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            do_GET = do_POST = _handle

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def add(self, status: int = 200, body: bytes | str | dict | list = b"", delay: float = 0.0) -> StubServer:
        self.answers.append(Answer(status, body, delay))
        return self

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port_url() -> str:
    """An address where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sample_verification(n: int = 2) -> dict:
    """A serving answer as the contract describes it: test_1 matches (2 faces), the rest have no face."""
    detections = [{"box": [10.0, 20.0, 80.0, 96.0], "score": 0.81, "confidence": 0.98},
                  {"box": [-0.0, 5.0, 30.0, 36.0], "score": 0.12, "confidence": 0.7}]
    results = [{"name": "test_1", "match": True, "score": 0.81, "box": [10.0, 20.0, 80.0, 96.0], "faces": 2,
                "detections": detections, "error": None}]
    results += [{"name": f"test_{i}", "match": False, "score": None, "box": None, "faces": 0,
                 "detections": [], "error": None} for i in range(2, n + 1)]
    return {"model": "face-verify 1.0", "aliases": [], "threshold": 0.4,
            "reference": {"box": [30.0, 40.0, 100.0, 120.0], "confidence": 0.97}, "results": results[:n]}


def photo_error(name: str, code: str = "not_an_image", message: str = "not in a known format") -> dict:
    """A test photo the server could not use, as the contract answers it."""
    return {"name": name, "match": None, "score": None, "box": None, "faces": None, "detections": [],
            "error": {"code": code, "message": f"{name}: {message}"}}


def sample_embedding() -> dict:
    return {"model": "face-embed 1.0", "aliases": [], "threshold": 0.3,
            "far_thresholds": [{"far": 0.001, "threshold": 0.3}, {"far": 0.0001, "threshold": 0.4}], "faces": [
        {"box": [1.0, 2.0, 30.0, 40.0], "confidence": 0.99, "embedding": [0.6, 0.8]},
        {"box": [50.0, 60.0, 20.0, 25.0], "confidence": 0.71, "embedding": [1.0, 0.0]},
    ]}
