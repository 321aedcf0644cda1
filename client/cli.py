"""Command line: `python -m client verify REF TEST [TEST ...]`, `embed PHOTO`, `health`.

Exit status: 0 done (whatever the verdicts), 1 server error or unexpected answer,
2 usage error, 3 server unreachable / timed out, 4 authentication failed,
5 bad input (refused by the server, or a photo that cannot be read).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from client.client import DEFAULT_URL, URL_ENV, FaceClient
from client.errors import (
    AuthenticationError,
    BadInputError,
    FaceClientError,
    PhotoInputError,
    RequestTimeoutError,
    ServerUnavailableError,
)
from client.models import VerificationResult

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
EXIT_CODES = ((AuthenticationError, 4), (BadInputError, 5), (PhotoInputError, 5),
              (ServerUnavailableError, 3), (RequestTimeoutError, 3), (FaceClientError, 1))


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


def _fmt_box(box) -> str:
    return "-" if box is None else "[" + ", ".join(f"{v:.0f}" for v in box) + "]"


def format_table(result: VerificationResult, reference: str, files: list[str]) -> str:
    lines = [
        f"model: {result.model}   threshold: {result.threshold:.3f}",
        f"reference: {reference}   box {_fmt_box(result.reference.box)}   "
        f"confidence {result.reference.confidence:.2f}",
        "",
    ]
    width = max([4] + [len(f) for f in files])
    header = f"{'#':>3}  {'name':<8}  {'file':<{width}}  {'match':<5}  {'score':>6}  {'box':<22}  faces"
    lines += [header, "-" * len(header)]
    for i, (item, file) in enumerate(zip(result.results, files), start=1):
        score = "-" if item.score is None else f"{item.score:.3f}"
        lines.append(f"{i:>3}  {item.name:<8}  {file:<{width}}  {'YES' if item.match else 'no':<5}  "
                     f"{score:>6}  {_fmt_box(item.box):<22}  {item.faces}")
    lines += ["", f"matched {len(result.matches)} of {len(result.results)} test photos"]
    return "\n".join(lines)


def _client(args: argparse.Namespace) -> FaceClient:
    return FaceClient(base_url=args.url, token=args.token, timeout=args.timeout,
                      retries=args.retries, key_file=args.key_file)


def _write_json(target: str, payload: dict) -> None:
    text = json.dumps(payload, indent=2)
    if target == "-":
        print(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def cmd_verify(args: argparse.Namespace) -> int:
    tests = expand_photos(args.tests)
    with _client(args) as client:
        result = client.verify(Path(args.reference), tests, threshold=args.threshold)
    files = [str(p) for p in tests]
    if args.json != "-":
        print(format_table(result, args.reference, files))
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

    parser = argparse.ArgumentParser(prog="python -m client", description="Face verification client.")
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", parents=[common],
                                 help="is the reference person in each test photo?")
    verify.add_argument("reference", help="reference photo (one person)")
    verify.add_argument("tests", nargs="+", help="test photos, or folders of photos")
    verify.add_argument("--threshold", type=float, default=None,
                        help="cosine-similarity threshold (default: the server's)")
    verify.add_argument("--json", metavar="OUT", default=None,
                        help="also write the full answer as JSON to OUT ('-': stdout only)")
    verify.set_defaults(func=cmd_verify)

    embed = commands.add_parser("embed", parents=[common], help="every face in a photo, with embeddings")
    embed.add_argument("photo")
    embed.add_argument("--json", metavar="OUT", default=None, help="write the answer as JSON ('-': stdout)")
    embed.set_defaults(func=cmd_embed)

    health = commands.add_parser("health", parents=[common], help="is the server up? (/ping)")
    health.set_defaults(func=cmd_health)
    return parser


def glue_token(argv: list[str]) -> list[str]:
    """`--token VALUE` -> `--token=VALUE`: TorchServe keys are URL-safe base64 and may start
    with '-', which argparse would otherwise take for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--token" and i + 1 < len(argv):
            out.append(f"--token={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(glue_token(sys.argv[1:] if argv is None else list(argv)))
    try:
        return args.func(args)
    except FaceClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))
    except KeyboardInterrupt:
        return 130
