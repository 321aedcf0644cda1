"""`gallery` subcommands: enroll NAME PHOTO...|FOLDER, enroll-all PEOPLE_DIR, identify PHOTO,
list, remove NAME. The store is --gallery (a folder or a Qdrant URL; default $FACE_GALLERY,
else ~/.local/share/face-verify/gallery). Exit status as for the other commands; enrolment
with a refused photo exits 5 after enrolling the others."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import expand_photos, make_client, write_json
from .terminal import fmt_box
from ..photos import PHOTO_SUFFIXES
from ..errors import PhotoInputError
from ..gallery.threshold import DEFAULT_FALSE_IDENTIFICATION_RATE

BAD_INPUT = 5


def add(commands, common) -> None:
    gallery = commands.add_parser("gallery", help="enrol people; identify the faces in a photo among them")
    actions = gallery.add_subparsers(dest="action", required=True)
    store = argparse.ArgumentParser(add_help=False, parents=[common])
    store.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                       help="the gallery: a folder (embedded store) or a Qdrant server URL "
                            "(default $FACE_GALLERY, else ~/.local/share/face-verify/gallery)")

    enroll = actions.add_parser("enroll", parents=[store], help="enrol a person from photos (one face each)")
    enroll.add_argument("name")
    enroll.add_argument("photos", nargs="+", help="photos, or folders of photos")
    enroll.add_argument("--add", action="store_true", help="keep the person's earlier photos (default: replace)")
    enroll.set_defaults(func=cmd_enroll)

    tree = actions.add_parser("enroll-all", parents=[store],
                              help="enrol every PEOPLE_DIR/<name>/ folder as the person <name>")
    tree.add_argument("people", help="folder of person folders: PEOPLE_DIR/<name>/<photo>")
    tree.set_defaults(func=cmd_enroll_all)

    identify = actions.add_parser("identify", parents=[store], help="who is in this photo?")
    identify.add_argument("photo")
    identify.add_argument("--top-k", type=int, default=3, help="candidates per face (default 3)")
    identify.add_argument("--threshold", type=float, default=None,
                          help="cosine-similarity threshold (default: the server's calibrated thresholds, "
                               "stricter as the gallery grows; see --false-identification-rate)")
    identify.add_argument("--false-identification-rate", type=float, default=DEFAULT_FALSE_IDENTIFICATION_RATE,
                          metavar="RATE", help="share of strangers' faces that may be named as someone enrolled "
                                               f"(default {DEFAULT_FALSE_IDENTIFICATION_RATE:g})")
    identify.add_argument("--json", metavar="OUT", nargs="?", const="-", default=None,
                          help="write the answer as JSON to OUT (no OUT: stdout only)")
    identify.set_defaults(func=cmd_identify)

    listing = actions.add_parser("list", parents=[store], help="the people enrolled")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(func=cmd_list)

    remove = actions.add_parser("remove", parents=[store], help="delete a person's embeddings")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)


def _open(args: argparse.Namespace, with_client: bool = True):
    from ..gallery import Gallery  # needs qdrant-client; the other commands do not

    return Gallery(args.gallery, make_client(args) if with_client else None,
                   false_identification_rate=getattr(args, "false_identification_rate", DEFAULT_FALSE_IDENTIFICATION_RATE))


def _report(enrollment) -> bool:
    """Prints one enrolment; True if every photo was enrolled."""
    state = f"enrolled {len(enrollment.enrolled)} photo(s)" if enrollment.enrolled else "NOT enrolled"
    replaced = f", replaced {enrollment.replaced} earlier" if enrollment.replaced else ""
    print(f"{enrollment.name}: {state}{replaced}")
    for refusal in enrollment.refused:
        print(f"  refused {refusal.photo}: {refusal.reason} ({refusal.code})", file=sys.stderr)
    return not enrollment.refused


def cmd_enroll(args: argparse.Namespace) -> int:
    photos = expand_photos(args.photos)
    with _open(args) as gallery:
        ok = _report(gallery.enroll(args.name, photos, add=args.add))
    return 0 if ok else BAD_INPUT


def cmd_enroll_all(args: argparse.Namespace) -> int:
    root = Path(args.people)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    people = {f.name: sorted(p for p in f.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
              for f in folders}
    people = {name: photos for name, photos in people.items() if photos}
    if not people:
        raise PhotoInputError(f"no person folders with photos in {root} (expected {root}/<name>/*.jpg)",
                              code="empty_folder")
    ok = True
    with _open(args) as gallery:
        for name, photos in people.items():
            ok = _report(gallery.enroll(name, photos)) and ok
        print(f"{gallery.count()} people in the gallery")
    return 0 if ok else BAD_INPUT


def cmd_identify(args: argparse.Namespace) -> int:
    with _open(args) as gallery:
        result = gallery.identify(Path(args.photo), top_k=args.top_k, threshold=args.threshold)
    if args.json != "-":
        print(f"model: {result.model}   threshold: {result.threshold:.4f}   embeddings searched: {result.embeddings}")
        for i, face in enumerate(result.faces, start=1):
            who = face.identity or "unknown"
            candidates = ", ".join(f"{c.name} {c.score:.3f}" for c in face.candidates) or "-"
            print(f"{i:>3}  box {fmt_box(face.box):<22}  {who:<24}  candidates: {candidates}")
        if not result.faces:
            print("no face found")
    if args.json:
        write_json(args.json, result.model_dump(mode="json"))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args, with_client=False) as gallery:
        people = gallery.people()
    if args.json:
        write_json("-", {"people": [p.model_dump(mode="json") for p in people]})
        return 0
    for person in people:
        print(f"{person.name}\t{len(person.photos)} photo(s)\t{person.model}")
    print(f"{len({p.name for p in people})} people", file=sys.stderr)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with _open(args, with_client=False) as gallery:
        deleted = gallery.remove(args.name)
    if not deleted:
        print(f"{args.name} is not enrolled", file=sys.stderr)
        return 1
    print(f"removed {args.name}: {deleted} embedding(s) deleted")
    return 0
