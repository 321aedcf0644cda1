"""`people` subcommands: discover FOLDER... (embed every photo through the service and group the
faces into people), show, name GROUP NAME, merge A B, split GROUP FACE..., reject FACE...,
recluster. The state (people.json + embeddings.npy) is --state (default $FACE_PEOPLE_STATE,
else ~/.local/share/face-verify/people); discover resumes: photos whose content is already in
the state are not sent again; a folder stands for every photo under it, subfolders included
(collections are kept by year, event, ...). Each command reads, changes and saves the state
under its lock, as `video identify` and `watch` do when they collect unknown faces into it
(--collect-unknown, added here for both). Needs the `people` extra (numpy, scipy; tqdm for
the bar)."""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import PhotoInputError
from ..photos import PHOTO_SUFFIXES
from .common import make_client, write_json
from .terminal import fmt_box

STATE_ENV = "FACE_PEOPLE_STATE"
USAGE = 2
PHOTOS_PER_SAVE = 64  # photos embedded between two saves of the state: what an interruption loses


def default_state() -> str:
    if os.environ.get(STATE_ENV):
        return os.environ[STATE_ENV]
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(data_home / "face-verify" / "people")


def add(commands, common) -> None:
    from ..people.threshold import DEFAULT_FALSE_LINK_RATE

    people = commands.add_parser("people", help="group the faces of a photo collection into people; name them")
    actions = people.add_subparsers(dest="action", required=True)
    state = argparse.ArgumentParser(add_help=False, parents=[common])
    state.add_argument("--state", default=None, metavar="DIR",
                       help=f"the collection's state folder (default ${STATE_ENV}, else "
                            "~/.local/share/face-verify/people)")
    state.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                       help="a gallery: groups of people enrolled in it are named by it; `name` enrols the group")
    state.add_argument("--json", metavar="OUT", nargs="?", const="-", default=None,
                       help="write the groups as JSON to OUT (no OUT: stdout)")
    state.add_argument("--min-faces", type=int, default=1,
                       help="groups with fewer faces are listed as unassigned (default %(default)s)")

    discover = actions.add_parser("discover", parents=[state], help="embed every photo (resumable) and group "
                                  "the faces into people")
    discover.add_argument("photos", nargs="+", metavar="FOLDER", help="folders of photos, or photos")
    discover.add_argument("--false-link-rate", type=float, default=None, metavar="RATE",
                          help="share of faces that may be linked to a stranger's group; the threshold tightens "
                               f"as the collection grows (default {DEFAULT_FALSE_LINK_RATE:g}; a new state only)")
    discover.add_argument("--collages", action="store_true",
                          help="two faces of one photo may be the same person (a new state only)")
    discover.add_argument("--recluster", action="store_true",
                          help="group every face again instead of only placing the new ones")
    discover.set_defaults(func=guarded(cmd_discover))

    show = actions.add_parser("show", parents=[state], help="the groups")
    show.set_defaults(func=guarded(cmd_show))
    name = actions.add_parser("name", parents=[state], help="name a group (with --gallery: enrol it there)")
    name.add_argument("group")
    name.add_argument("name")
    name.set_defaults(func=guarded(cmd_name))
    merge = actions.add_parser("merge", parents=[state], help="B is the same person as A")
    merge.add_argument("keep", metavar="A")
    merge.add_argument("other", metavar="B")
    merge.set_defaults(func=guarded(cmd_merge))
    split = actions.add_parser("split", parents=[state], help="these faces of GROUP are another person")
    split.add_argument("group")
    split.add_argument("faces", nargs="+", type=int, metavar="FACE")
    split.set_defaults(func=guarded(cmd_split))
    reject = actions.add_parser("reject", parents=[state], help="these faces are not the person of their group")
    reject.add_argument("faces", nargs="+", type=int, metavar="FACE")
    reject.set_defaults(func=guarded(cmd_reject))
    recluster = actions.add_parser("recluster", parents=[state], help="group every face again (decisions kept)")
    recluster.set_defaults(func=guarded(cmd_recluster))


def add_collect_option(parser) -> None:
    """--collect-unknown [STATE_DIR] for `video identify` and `watch`."""
    parser.add_argument("--collect-unknown", nargs="?", const="", default=None, metavar="STATE_DIR",
                        help="collect the faces of people nobody enrolled (embeddings and boxes, no pixels) into "
                             "this people state, grouped into an 'Unknown person N' each to name with `people "
                             "name` (no STATE_DIR: the default people state, as `people show` reads)")


def collector(args: argparse.Namespace):
    """The UnknownFaces of --collect-unknown, or None."""
    if args.collect_unknown is None:
        return None
    try:
        from ..people.index import PeopleError
        from ..people.unknown import UnknownFaces
    except ImportError as exc:
        raise SystemExit("error: --collect-unknown needs the `people` extra "
                         f"(pip install 'face-verify-client[people]'): {exc}") from None
    folder = Path(args.collect_unknown or default_state()).expanduser()
    if folder.exists() and not folder.is_dir():  # e.g. a clip taken for the option's value: give it last
        raise SystemExit(f"error: --collect-unknown {folder}: not a folder")
    try:
        return UnknownFaces(folder)
    except PeopleError as exc:
        raise SystemExit(f"error: --collect-unknown: {exc}") from None


def collected(collect) -> None:
    """Writes what is left and says what was collected."""
    from ..people.index import PeopleError

    try:
        collect.close()
    except PeopleError as exc:
        print(f"error: unknown faces not collected: {exc}", file=sys.stderr)
        return
    print(f"{collect.added} face(s) of {collect.collected} unknown track(s) collected: "
          f"face-verify people show --state {collect.folder}", file=sys.stderr)


def locked(args: argparse.Namespace, shared: bool = False):
    """The state's lock (index.state_lock) around a read (shared) or a read-change-save."""
    from ..people.index import state_lock

    return state_lock(state_folder(args), shared=shared)


def guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`command`, with a request the state cannot carry out (an unknown group or face, a
    server with another model) answered as a usage error."""
    def run(args: argparse.Namespace) -> int:
        from ..people.index import PeopleError

        try:
            return command(args)
        except PeopleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return USAGE

    return run


def state_folder(args: argparse.Namespace) -> str:
    return args.state or default_state()


def open_index(args: argparse.Namespace, must_exist: bool = True):
    from ..people.index import STATE_FILE, PeopleError, PeopleIndex
    from ..people.threshold import DEFAULT_FALSE_LINK_RATE

    folder = state_folder(args)
    if must_exist and not (Path(folder) / STATE_FILE).exists():
        raise PeopleError(f"no people state in {folder} (run `people discover` first)")
    rate = getattr(args, "false_link_rate", None)
    return PeopleIndex.open(folder, false_link_rate=rate or DEFAULT_FALSE_LINK_RATE,
                            one_person_per_photo=not getattr(args, "collages", False))


def identify_with(args: argparse.Namespace, index):
    """The gallery's namer, or None without --gallery (and the gallery, to close)."""
    if not args.gallery:
        return None, None
    from ..gallery import Gallery
    from ..people.gallery_link import gallery_identify

    gallery = Gallery(args.gallery, make_client(args))
    return gallery, gallery_identify(gallery, index)


def collection_photos(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for every photo under it, subfolders included (sorted)."""
    photos: list[Path] = []
    for item in map(Path, paths):
        if not item.is_dir():
            photos.append(item)
            continue
        found = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        if not found:
            raise PhotoInputError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in folder {item}",
                                  code="empty_folder")
        photos.extend(found)
    return photos


def cmd_discover(args: argparse.Namespace) -> int:
    with locked(args):
        return discover(args)


def discover(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    index = open_index(args, must_exist=False)
    folder = state_folder(args)
    photos = collection_photos(args.photos)
    todo, refused = [], []
    for photo in photos:
        sha256 = hashlib.sha256(photo.read_bytes()).hexdigest()
        if sha256 not in index.photos:
            todo.append((photo, sha256))
    client = make_client(args)
    try:
        with tqdm(total=len(todo), unit="photo", desc="embed", disable=not todo) as bar:
            for start in range(0, len(todo), PHOTOS_PER_SAVE):
                chunk = todo[start:start + PHOTOS_PER_SAVE]
                answer = client.embed_many([photo for photo, _ in chunk])
                index.set_model(answer.model, answer.threshold, answer.far_thresholds)
                for (photo, sha256), found in zip(chunk, answer.photos, strict=True):
                    if found.ok:
                        index.add_photo(str(photo), sha256, found.faces)
                    else:
                        refused.append(f"{photo}: {found.error.message if found.error else 'refused'}")
                index.save(folder)
                bar.update(len(chunk))
    finally:
        client.close()
    gallery, identify = identify_with(args, index)
    try:
        if args.recluster:
            index.recluster(identify)
        else:
            index.assign(identify)
    finally:
        if gallery is not None:
            gallery.close()
    index.save(folder)
    print(f"{len(photos) - len(todo)} photo(s) already in {folder}, {len(todo) - len(refused)} embedded, "
          f"{len(refused)} refused", file=sys.stderr)
    for line in refused:
        print(f"  refused {line}", file=sys.stderr)
    return show(args, index, 5 if refused else 0)


def show(args: argparse.Namespace, index, status: int = 0) -> int:
    found = index.summary(args.min_faces)
    if args.json:
        write_json(args.json, {"groups": found["groups"], "unassigned": found["unassigned"]})
    if args.json != "-":
        threshold = f"{index.grouping_threshold():.4f}" if index.threshold is not None else "-"
        print(f"{len(found['groups'])} group(s), {sum(len(g['faces']) for g in found['groups'])} face(s) grouped, "
              f"{len(found['unassigned'])} unassigned; threshold {threshold} for {len(index.eligible())} faces")
        for group in found["groups"]:
            faces = ", ".join(f"{face['face']}:{Path(face['photo']).name}" for face in group["faces"][:6])
            more = f" and {len(group['faces']) - 6} more" if len(group["faces"]) > 6 else ""
            print(f"{group['id']:>6}  {group['label'] or '-':<20}  {len(group['faces']):>4} face(s)  {faces}{more}")
        for face in found["unassigned"][:20]:
            print(f"unassigned {face['face']}:{Path(face['photo']).name} box {fmt_box(face['box'])} ({face['reason']})")
    return status


def changed(args: argparse.Namespace, index) -> int:
    index.save(state_folder(args))
    return show(args, index)


def cmd_show(args: argparse.Namespace) -> int:
    with locked(args, shared=True):
        index = open_index(args)
    return show(args, index)


def cmd_name(args: argparse.Namespace) -> int:
    with locked(args):
        return name(args)


def name(args: argparse.Namespace) -> int:
    index = open_index(args)
    if args.gallery:
        from ..gallery import Gallery
        from ..people.gallery_link import gallery_enrol

        with Gallery(args.gallery, make_client(args)) as gallery:
            index.name(args.group, args.name, gallery_enrol(gallery, index))
    else:
        index.name(args.group, args.name)
    return changed(args, index)


def cmd_merge(args: argparse.Namespace) -> int:
    with locked(args):
        index = open_index(args)
        index.merge(args.keep, args.other)
        return changed(args, index)


def cmd_split(args: argparse.Namespace) -> int:
    with locked(args):
        index = open_index(args)
        print(f"new group {index.split(args.group, args.faces)}", file=sys.stderr)
        return changed(args, index)


def cmd_reject(args: argparse.Namespace) -> int:
    with locked(args):
        index = open_index(args)
        for face in args.faces:
            index.reject(face)
        return changed(args, index)


def cmd_recluster(args: argparse.Namespace) -> int:
    with locked(args):
        return recluster(args)


def recluster(args: argparse.Namespace) -> int:
    index = open_index(args)
    gallery, identify = identify_with(args, index)
    try:
        index.recluster(identify)
    finally:
        if gallery is not None:
            gallery.close()
    return changed(args, index)
