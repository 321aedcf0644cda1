"""python -m ui: serve the page (against a running service; `make ui` starts one first).

    python -m ui                                  # http://127.0.0.1:7860, this machine only
    FACE_UI_PASSWORD=... python -m ui --host 0.0.0.0   # wider only with a password
    python -m ui --lan                            # https://<this machine>:7860 for a phone, login required
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from data.lfw import default_data_dir
from ui.lan import STATE_DIR
from ui.login import SESSION_S

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
    parser.add_argument("--host", default=None,
                        help=f"address to listen on (default 127.0.0.1, with --lan 0.0.0.0); without --lan, any "
                             f"other needs ${PASSWORD_ENV}")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--url", default=None, help="the service (default $FACE_VERIFY_URL, else http://127.0.0.1:8080)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json (default: the client's lookup)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per service request")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding lfw/ for the sample set (default $DATA_DIR, else ../shared/data)")
    parser.add_argument("--gallery-name", default=None, metavar="NAME",
                        help="the Identify and Live tabs' gallery: the service's gallery NAME (default `default`, "
                             "the one the CLI and video use too)")
    parser.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                        help="instead, a gallery the page opens itself: a folder (locked by the page) or a Qdrant URL")
    parser.add_argument("--people-state", default=None, metavar="DIR",
                        help="the People tab's state folder, as `python -m client people --state` keeps it "
                             "(default $FACE_PEOPLE_STATE, else ~/.local/share/face-verify/people); named groups "
                             "are enrolled in the Identify tab's gallery")
    lan = parser.add_argument_group("the local network (a phone): HTTPS and a login")
    lan.add_argument("--lan", action="store_true",
                     help=f"serve over HTTPS on every interface (0.0.0.0 unless --host says otherwise); a login "
                          f"(${PASSWORD_ENV} or the service's inference key) is asked for, sessions last "
                          f"{SESSION_S // 3600} h")
    lan.add_argument("--cert", type=Path, default=None, help="the HTTPS certificate (PEM; default: a self-signed "
                                                             "one, made on first use and kept in --state)")
    lan.add_argument("--key", type=Path, default=None, help="the certificate's private key (PEM)")
    lan.add_argument("--state", type=Path, default=STATE_DIR, help=f"where the self-signed one is kept "
                                                                   f"(default {STATE_DIR})")
    args = parser.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    if (args.cert is not None) and not args.lan:
        parser.error("--cert and --key are for --lan")
    if args.people_state is None:
        from client.cli.people import default_state

        args.people_state = default_state()
    if args.host is None:
        args.host = "0.0.0.0" if args.lan else "127.0.0.1"
    return args


def key_file_of(args: argparse.Namespace) -> Path | None:
    """The TorchServe key file the client reads the inference key from, if there is one."""
    if args.key_file:
        return Path(args.key_file)
    from client.client import default_key_files

    return next((path for path in default_key_files() if path.is_file()), None)


def serve_lan(args: argparse.Namespace, client, page, password: str | None, key_file: Path | None) -> int:
    """The page behind the login (`password` or the inference key in `key_file`), over HTTPS
    (uvicorn), on args.host."""
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI

    from client import read_key_file
    from ui import lan
    from ui.app import page_assets
    from ui.login import LoginGate, password_check

    tls = lan.certificate(args.cert, args.key, args.state)
    logins = ([f"${PASSWORD_ENV}"] if password else []) + (
        [f"the inference key in {key_file}"] if key_file is not None else [])
    addresses = [] if is_loopback(args.host) else lan.local_addresses() if args.host == "0.0.0.0" else [args.host]
    print(lan.banner(args.port, tls, addresses, logins), flush=True)

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app = gr.mount_gradio_app(app, page, path="/", max_file_size=client.max_request_bytes, ssr_mode=False,
                              mcp_server=False, footer_links=["api"], show_error=True, **page_assets())
    check = password_check(lambda: password, lambda: read_key_file(key_file) if key_file is not None else None)
    uvicorn.run(LoginGate(app, check), host=args.host, port=args.port, ssl_certfile=str(tls.cert),
                ssl_keyfile=str(tls.key), log_level="warning", timeout_graceful_shutdown=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    password = os.environ.get(PASSWORD_ENV)
    key_file = key_file_of(args) if args.lan else None
    if args.lan and not password and key_file is None:
        print(f"error: the page on the network needs a login: set {PASSWORD_ENV}, or give the service's "
              f"--key-file (its inference key is then the login)", file=sys.stderr)
        return 2
    if not args.lan and not is_loopback(args.host) and not password:
        print(f"error: listening on {args.host} needs a password: set {PASSWORD_ENV} "
              f"(user ${USER_ENV}, default 'demo'), or use --lan (HTTPS and a login)", file=sys.stderr)
        return 2
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

    from client import FaceClient
    from ui.app import build_app, page_assets

    client = FaceClient(base_url=args.url, key_file=args.key_file, timeout=args.timeout)
    page = build_app(client, args.data_dir or default_data_dir(), gallery=args.gallery,
                     gallery_name=args.gallery_name, people_state=args.people_state)
    page.queue(default_concurrency_limit=1)  # one verification at a time: the server has one worker
    if args.lan:
        return serve_lan(args, client, page, password, key_file)
    auth = (os.environ.get(USER_ENV, "demo"), password) if password else None
    page.launch(server_name=args.host, server_port=args.port, auth=auth, share=False,
                max_file_size=client.max_request_bytes, ssr_mode=False, mcp_server=False,
                footer_links=["api"], show_error=True, **page_assets())
    return 0


if __name__ == "__main__":
    sys.exit(main())
