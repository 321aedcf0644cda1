"""`gallery` subcommands: enroll NAME PHOTO...|FOLDER, enroll-all PEOPLE_DIR, identify PHOTO,
list, remove NAME, export FILE, import FILE, push SOURCE. The gallery is the service's (the
served gallery `--gallery-name`, default `default`: the one the web page and video use too),
or with --gallery a folder or Qdrant URL this process opens (offline; $FACE_GALLERY set means
that too). Exit status as for the other commands; enrolment with a refused photo exits 5 after
enrolling the others."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..gallery.bulk import BATCH, PER_REQUEST, WORKERS
from ..gallery.threshold import DEFAULT_FALSE_IDENTIFICATION_RATE
from .common import expand_photos, make_client, write_json
from .terminal import fmt_box

BAD_INPUT = 5


def add(commands, common) -> None:
    gallery = commands.add_parser("gallery", help="enrol people; identify the faces in a photo among them")
    actions = gallery.add_subparsers(dest="action", required=True)
    store = argparse.ArgumentParser(add_help=False, parents=[common])
    where = store.add_mutually_exclusive_group()
    where.add_argument("--gallery-name", default=None, metavar="NAME",
                       help="the service's gallery NAME (default: `default`); the web page, video and curl "
                            "use the same galleries at once")
    where.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                       help="instead, a gallery this process opens: a folder (embedded store: one process at a "
                            "time, for offline use) or a Qdrant server URL (default $FACE_GALLERY if set)")

    enroll = actions.add_parser("enroll", parents=[store], help="enrol a person from photos (one face each)")
    enroll.add_argument("name")
    enroll.add_argument("photos", nargs="+", help="photos, or folders of photos")
    enroll.add_argument("--add", action="store_true", help="keep the person's earlier photos (default: replace)")
    enroll.set_defaults(func=cmd_enroll)

    tree = actions.add_parser("enroll-all", parents=[store],
                              help="enrol every PEOPLE_DIR/<name>/ folder as the person <name> (resumable: "
                                   "photos already enrolled with the same content are skipped)")
    tree.add_argument("people", help="folder of person folders: PEOPLE_DIR/<name>/<photo>")
    tree.add_argument("--workers", type=int, default=WORKERS,
                      help="face-embed requests in flight (default %(default)s)")
    tree.add_argument("--per-request", type=int, default=PER_REQUEST,
                      help="photos per face-embed request (default %(default)s)")
    tree.add_argument("--batch", type=int, default=BATCH,
                      help="photos stored together, then flushed (default %(default)s)")
    tree.add_argument("--summary", default="enroll-all-summary.json", metavar="FILE",
                      help="JSON summary with every refused photo and why (default %(default)s)")
    tree.set_defaults(func=cmd_enroll_all)

    export = actions.add_parser("export", parents=[store], help="write the whole gallery to FILE (gzipped "
                                "JSON lines, owner-only): to move it to a server or another machine")
    export.add_argument("file")
    export.set_defaults(func=cmd_export)
    load = actions.add_parser("import", parents=[store], help="add a FILE written by `export` to the gallery")
    load.add_argument("file")
    load.set_defaults(func=cmd_import)
    push = actions.add_parser("push", parents=[store], help="copy SOURCE's people (a folder or a Qdrant server "
                              "URL) into the gallery: the service's (e.g. a folder enrolled offline), or --gallery; "
                              "counts checked")
    push.add_argument("source", metavar="SOURCE")
    push.add_argument("--shards", type=int, default=None, help="shard_number of collections created on a cluster")
    push.set_defaults(func=cmd_push)

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
    """The gallery the options name. The served one always needs the client (its address and
    token); a store opened here needs it only to embed photos."""
    from ..gallery import Gallery  # needs qdrant-client; the other commands do not
    from ..gallery.gallery import GALLERY_ENV

    rate = getattr(args, "false_identification_rate", DEFAULT_FALSE_IDENTIFICATION_RATE)
    local = bool(args.gallery or (os.environ.get(GALLERY_ENV) and not args.gallery_name))
    client = make_client(args) if with_client or not local else None
    if local:
        return Gallery(args.gallery, client, false_identification_rate=rate, shards=getattr(args, "shards", None))
    return Gallery(client=client, name=args.gallery_name, false_identification_rate=rate)


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
    from tqdm import tqdm

    with _open(args) as gallery, tqdm(unit="photo", desc="enrol", smoothing=0.1) as bar:
        def progress(done: int, total: int) -> None:
            if bar.total != total:  # known once the folder is listed
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        summary = gallery.enroll_folder(args.people, workers=args.workers, batch=args.batch,
                                        per_request=args.per_request, progress=progress)
    report = summary.as_json()
    write_json(args.summary, report)
    print(f"{summary.enrolled} photo(s) enrolled, {summary.skipped} already enrolled, {len(summary.refused)} "
          f"refused (reasons in {args.summary}); {summary.people} people, {report['photos_per_second']} photos/s")
    return BAD_INPUT if summary.refused else 0


def _counts(copied: dict[str, int]) -> str:
    return f"{sum(copied.values())} embedding(s) in {len(copied)} collection(s)"


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args, with_client=False) as gallery:
        copied = gallery.export(args.file)
    print(f"exported {_counts(copied)} to {args.file} (owner-only: it holds face embeddings)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with _open(args, with_client=False) as gallery:
        copied = gallery.import_file(args.file)
    print(f"imported {_counts(copied)} into {gallery.location}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from ..gallery import Gallery

    with _open(args, with_client=False) as gallery, Gallery(args.source) as source:
        copied = source.push(gallery, shards=args.shards)
    print(f"copied {_counts(copied)} from {args.source} to {gallery.location}")
    return 0


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
