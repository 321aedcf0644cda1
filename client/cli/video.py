"""`video identify CLIP [CLIP ...]`: who appears when in video files. Frames sampled at
--fps go to the service's face-embed endpoint; faces are tracked and named from the gallery
(--gallery) or matched against one person's photo (--reference). Needs the `video` extra
(PyAV, trackers); an unreadable clip is reported in its entry and exits 5 after the others.
--collect-unknown [STATE_DIR]: the faces of people nobody enrolled go to a people state
(client/people/unknown.py), each person a group to name."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import make_client, write_json
from .people import add_collect_option, collected, collector

BAD_INPUT = 5
DEFAULT_FPS = 10.0


def add(commands, common) -> None:
    video = commands.add_parser("video", help="faces in video files")
    actions = video.add_subparsers(dest="action", required=True)
    identify = actions.add_parser("identify", parents=[common], help="who appears when in a clip")
    identify.add_argument("clips", nargs="+", metavar="CLIP", help="video files (anything FFmpeg reads)")
    who = identify.add_mutually_exclusive_group()
    who.add_argument("--gallery-name", default=None, metavar="NAME",
                     help="name faces from the service's gallery NAME (the default, with NAME `default`: the "
                          "gallery the CLI and the web page use)")
    who.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                     help="instead, a gallery this process opens: a folder (offline) or a Qdrant server URL "
                          "(default $FACE_GALLERY if set)")
    who.add_argument("--reference", default=None, metavar="PHOTO",
                     help="instead: is this photo's person in the clip? (identity 'match' or null)")
    identify.add_argument("--threshold", type=float, default=None,
                          help="with --reference: cosine threshold (default the server's calibrated one)")
    identify.add_argument("--fps", type=float, default=DEFAULT_FPS,
                          help=f"frames sampled per second of video (default {DEFAULT_FPS:g})")
    add_collect_option(identify)
    identify.add_argument("--json", metavar="OUT", default="-", help="write the answer here (default stdout)")
    identify.add_argument("--out", metavar="VIDEO", default=None,
                          help="also write the sampled frames, boxed and named, to this video (one clip only)")
    identify.set_defaults(func=cmd_identify)


def cmd_identify(args) -> int:
    if args.fps <= 0:
        raise SystemExit("error: --fps must be > 0")
    if args.out and len(args.clips) > 1:
        raise SystemExit("error: --out takes one clip")
    if args.reference and args.collect_unknown is not None:
        raise SystemExit("error: --collect-unknown needs a gallery: with --reference, nobody is known but one person")
    try:
        from ..video import identities
        from ..video.identify import identify_clip
    except ImportError as exc:
        raise SystemExit("error: video needs the `video` extra "
                         f"(pip install 'face-verify-client[video]'): {exc}") from None
    collect = collector(args)
    client = make_client(args)
    gallery = None
    identifier: identities.Identifier
    if args.reference:
        identifier = identities.ReferenceIdentifier(client, args.reference, args.threshold)
    else:
        from ..gallery import Gallery

        gallery = Gallery(args.gallery, client=client, name=None if args.gallery else args.gallery_name)
        identifier = identities.GalleryIdentifier(gallery)
    clips = []
    try:
        for clip in args.clips:
            report = identify_clip(Path(clip), client, identifier, fps=args.fps, annotated=args.out, progress=True,
                                   collect=collect)
            if report.error is not None:
                print(f"error: {report.error.message}", file=sys.stderr)
            clips.append(report.cli_entry())
    finally:
        if gallery is not None:
            gallery.close()
        if collect is not None:
            collected(collect)
    settings = {"fps": args.fps, "mode": "reference" if args.reference else "gallery",
                "reference": args.reference, "gallery": None if gallery is None else gallery.location,
                "threshold": getattr(identifier, "threshold", None), "url": client.base_url}
    write_json(args.json, {"settings": settings, "clips": clips})
    return BAD_INPUT if any(c["error"] for c in clips) else 0
