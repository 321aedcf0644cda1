"""Command line: `face-verify` (installed) or `python -m client` (in the checkout):
`verify REF TEST [TEST ...]`, `embed PHOTO`, `health`, `calibrate PEOPLE_DIR`, `gallery ...`,
`video identify CLIP`, `people discover FOLDER...`, `watch SOURCE...`.

A subcommand is a function `add(commands, common)` in COMMANDS that adds its parser (with
`common` as a parent) and sets `func`; build_parser() calls each.

Exit status: 0 done (whatever the verdicts), 1 server error or unexpected answer,
2 usage error, 3 server unreachable / timed out, 4 authentication failed,
5 bad input (refused by the server, or a photo that cannot be read).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..client import DEFAULT_URL, URL_ENV
from ..errors import FaceClientError
from . import calibrate, gallery, people, verify, video, watch
from .terminal import exit_code, glue_token

# Each adds its sub-commands; add yours here.
COMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    verify.add, calibrate.add, gallery.add, video.add, people.add, watch.add]


def program_name() -> str:
    return "python -m client" if __package__.split(".")[0] == "client" else "face-verify"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None,
                        help=f"server address (default ${URL_ENV}, else {DEFAULT_URL})")
    common.add_argument("--token", default=None,
                        help="inference key (default $FACE_VERIFY_TOKEN, else the key file)")
    common.add_argument("--key-file", default=None,
                        help="TorchServe key_file.json (default $FACE_VERIFY_KEY_FILE, else ./key_file.json)")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    common.add_argument("--retries", type=int, default=2,
                        help="extra attempts when the server is unreachable or busy (default 2)")

    parser = argparse.ArgumentParser(prog=program_name(), description="Face verification client.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(glue_token(sys.argv[1:] if argv is None else list(argv)))
    command: Callable[[argparse.Namespace], int] = args.func  # set by each sub-command's parser
    try:
        return command(args)
    except FaceClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
