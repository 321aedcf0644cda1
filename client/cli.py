"""Command line: `face-verify` (installed) or `python -m client` (in the checkout):
`verify REF TEST [TEST ...]`, `embed PHOTO`, `health`, `calibrate PEOPLE_DIR`.

A subcommand is a function `add(commands, common)` in COMMANDS that adds its parser (with
`common` as a parent) and sets `func`; build_parser() calls each.

Exit status: 0 done (whatever the verdicts), 1 server error or unexpected answer,
2 usage error, 3 server unreachable / timed out, 4 authentication failed,
5 bad input (refused by the server, or a photo that cannot be read).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from .client import DEFAULT_URL, URL_ENV, FaceClient
from .errors import FaceClientError, PhotoInputError
from .photos import PHOTO_SUFFIXES
from .terminal import exit_code, fmt_box as _fmt_box, format_table, glue_token


def expand_photos(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for its photos (sorted by name)."""
    photos: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise PhotoInputError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in folder {item}",
                                      code="empty_folder")
            photos.extend(found)
        else:
            photos.append(item)
    return photos


class Progress:
    """A one-line progress bar on stderr for runs of more than one request (a line per
    request when stderr is not a terminal)."""

    def __init__(self, what: str, stream=None, min_total: int = 0) -> None:
        self.what, self.stream, self.min_total = what, stream or sys.stderr, min_total
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total <= self.min_total or (done == total and not self.shown):
            return  # short runs: no bar
        self.shown = True
        if self.tty:
            filled = int(30 * done / total)
            self.stream.write(f"\r{self.what} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{self.what}: {done}/{total}\n")
        self.stream.flush()


def compact_json(payload: dict) -> str:
    """Indented JSON with each list of numbers (boxes, embeddings) on one line."""
    text = json.dumps(payload, indent=2)
    return re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def _client(args: argparse.Namespace) -> FaceClient:
    return FaceClient(base_url=args.url, token=args.token, timeout=args.timeout,
                      retries=args.retries, key_file=args.key_file,
                      threshold_file=getattr(args, "threshold_file", None))


def _write_json(target: str, payload: dict) -> None:
    text = compact_json(payload)
    if target == "-":
        print(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def cmd_verify(args: argparse.Namespace) -> int:
    tests = expand_photos(args.tests)
    progress = None if args.quiet else Progress("verify: photos", min_total=1)
    with _client(args) as client:
        result = client.verify(Path(args.reference), tests, threshold=args.threshold, progress=progress)
        source = "argument" if args.threshold is not None else client.threshold_source
    files = [str(p) for p in tests]
    if args.json != "-":
        print(format_table(result, args.reference, files, source))
    if args.json:
        payload = result.model_dump(mode="json")
        payload["files"] = {"reference": args.reference,
                            **{item.name: f for item, f in zip(result.results, files)}}
        _write_json(args.json, payload)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.embed(Path(args.photo))
    if args.json != "-":
        print(f"model: {result.model}   faces: {len(result.faces)}")
        for i, face in enumerate(result.faces, start=1):
            print(f"{i:>3}  box {_fmt_box(face.box):<22}  confidence {face.confidence:.2f}  "
                  f"embedding dim {len(face.embedding)}")
    if args.json:
        _write_json(args.json, result.model_dump(mode="json"))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with _client(args) as client:
        health = client.health()
    print(health.status)
    return 0 if health.healthy else 1


def add_verify(commands, common) -> None:
    verify = commands.add_parser("verify", parents=[common],
                                 help="is the reference person in each test photo?")
    verify.add_argument("reference", help="reference photo (one person)")
    verify.add_argument("tests", nargs="+", help="test photos, or folders of photos (any number)")
    verify.add_argument("--threshold", type=float, default=None,
                        help="cosine-similarity threshold (default: the calibrated threshold file, "
                             "else the server's)")
    verify.add_argument("--threshold-file", default=None,
                        help="a file written by `calibrate --save` (default $FACE_VERIFY_THRESHOLD_FILE, "
                             "else ./face-verify-threshold.json when present)")
    verify.add_argument("--json", metavar="OUT", default=None,
                        help="also write the full answer as JSON to OUT ('-': stdout only)")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    verify.set_defaults(func=cmd_verify)


def add_embed(commands, common) -> None:
    embed = commands.add_parser("embed", parents=[common], help="every face in a photo, with embeddings")
    embed.add_argument("photo")
    embed.add_argument("--json", metavar="OUT", default=None, help="write the answer as JSON ('-': stdout)")
    embed.set_defaults(func=cmd_embed)


def add_health(commands, common) -> None:
    health = commands.add_parser("health", parents=[common], help="is the server up? (/ping)")
    health.set_defaults(func=cmd_health)


def add_calibrate(commands, common) -> None:
    from .calibrate_command import add  # its own module: the statistics stay out of here

    add(commands, common)


def add_gallery(commands, common) -> None:
    from .gallery_cli import add  # the vector store is imported only when a gallery command runs

    add(commands, common)


# Each adds one subcommand; add yours here.
COMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    add_verify, add_embed, add_health, add_calibrate, add_gallery]


def program_name() -> str:
    return "python -m client" if __package__ == "client" else "face-verify"


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
    try:
        return args.func(args)
    except FaceClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
