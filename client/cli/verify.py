"""`verify REF TEST [TEST ...]`, `embed PHOTO`, `health`."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import Progress, expand_photos, make_client, write_json
from .terminal import fmt_box, format_table


def cmd_verify(args: argparse.Namespace) -> int:
    tests = expand_photos(args.tests)
    progress = None if args.quiet else Progress("verify: photos", min_total=1)
    with make_client(args) as client:
        result = client.verify(Path(args.reference), tests, threshold=args.threshold, progress=progress)
        source = "argument" if args.threshold is not None else client.threshold_source
    files = [str(p) for p in tests]
    if args.json != "-":
        print(format_table(result, args.reference, files, source))
    if args.json:
        payload = result.model_dump(mode="json")
        payload["files"] = {"reference": args.reference,
                            **{item.name: f for item, f in zip(result.results, files, strict=False)}}
        write_json(args.json, payload)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        result = client.embed(Path(args.photo))
    if args.json != "-":
        print(f"model: {result.model}   faces: {len(result.faces)}")
        for i, face in enumerate(result.faces, start=1):
            print(f"{i:>3}  box {fmt_box(face.box):<22}  confidence {face.confidence:.2f}  "
                  f"embedding dim {len(face.embedding)}")
    if args.json:
        write_json(args.json, result.model_dump(mode="json"))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with make_client(args) as client:
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


def add(commands, common) -> None:
    add_verify(commands, common)
    add_embed(commands, common)
    add_health(commands, common)
