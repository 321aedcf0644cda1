"""python -m ui: serve the page (against a running service; `make ui` starts one first).

    python -m ui                                  # http://127.0.0.1:7860, this machine only
    FACE_UI_PASSWORD=... python -m ui --host 0.0.0.0   # wider only with a password
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from data.lfw import default_data_dir

PASSWORD_ENV = "FACE_UI_PASSWORD"
USER_ENV = "FACE_UI_USER"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ui", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help=f"address to listen on (default 127.0.0.1); any other needs ${PASSWORD_ENV}")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--url", default=None, help="the service (default $FACE_VERIFY_URL, else http://127.0.0.1:8080)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json (default: the client's lookup)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per service request")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding lfw/ for the sample set (default $DATA_DIR, else ../shared/data)")
    parser.add_argument("--gallery", default=None,
                        help="the Identify tab's gallery: a folder or a Qdrant URL (default: the client's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    password = os.environ.get(PASSWORD_ENV)
    if not is_loopback(args.host) and not password:
        print(f"error: listening on {args.host} needs a password: set {PASSWORD_ENV} "
              f"(user ${USER_ENV}, default 'demo')", file=sys.stderr)
        return 2
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

    from client import FaceClient
    from ui.app import build_app

    client = FaceClient(base_url=args.url, key_file=args.key_file, timeout=args.timeout)
    page = build_app(client, args.data_dir or default_data_dir(), gallery=args.gallery)
    auth = (os.environ.get(USER_ENV, "demo"), password) if password else None
    page.queue(default_concurrency_limit=1)  # one verification at a time: the server has one worker
    page.launch(server_name=args.host, server_port=args.port, auth=auth, share=False,
                max_file_size=client.max_request_bytes, ssr_mode=False, mcp_server=False,
                footer_links=["api"], show_error=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
