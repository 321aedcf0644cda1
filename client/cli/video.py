"""`video identify CLIP [CLIP ...]`: who appears when in video files. Frames sampled at
--fps go to the service's face-embed endpoint; faces are tracked and named from the gallery
(--gallery) or matched against one person's photo (--reference). Needs the `video` extra
(PyAV, trackers); an unreadable clip is reported in its entry and exits 5 after the others."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import make_client, write_json

BAD_INPUT = 5
DEFAULT_FPS = 10.0


def add(commands, common) -> None:
    video = commands.add_parser("video", help="faces in video files")
    actions = video.add_subparsers(dest="action", required=True)
    identify = actions.add_parser("identify", parents=[common], help="who appears when in a clip")
    identify.add_argument("clips", nargs="+", metavar="CLIP", help="video files (anything FFmpeg reads)")
    who = identify.add_mutually_exclusive_group()
    who.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                     help="name faces from this gallery (default $FACE_GALLERY, else the user's gallery)")
    who.add_argument("--reference", default=None, metavar="PHOTO",
                     help="instead: is this photo's person in the clip? (identity 'match' or null)")
    identify.add_argument("--threshold", type=float, default=None,
                          help="with --reference: cosine threshold (default the server's calibrated one)")
    identify.add_argument("--fps", type=float, default=DEFAULT_FPS,
                          help=f"frames sampled per second of video (default {DEFAULT_FPS:g})")
    identify.add_argument("--json", metavar="OUT", default="-", help="write the answer here (default stdout)")
    identify.add_argument("--out", metavar="VIDEO", default=None,
                          help="also write the sampled frames, boxed and named, to this video (one clip only)")
    identify.set_defaults(func=cmd_identify)


def cmd_identify(args) -> int:
    if args.fps <= 0:
        raise SystemExit("error: --fps must be > 0")
    if args.out and len(args.clips) > 1:
        raise SystemExit("error: --out takes one clip")
    try:
        from ..video import identities
    except ImportError as exc:
        raise SystemExit(f"error: video needs the `video` extra (pip install 'face-verify-client[video]'): {exc}")
    client = make_client(args)
    gallery = None
    if args.reference:
        identifier = identities.ReferenceIdentifier(client, args.reference, args.threshold)
    else:
        from ..gallery import Gallery

        gallery = Gallery(args.gallery, client=client)
        identifier = identities.GalleryIdentifier(gallery)
    try:
        clips = [identify_clip(Path(clip), client, identifier, args) for clip in args.clips]
    finally:
        if gallery is not None:
            gallery.close()
    settings = {"fps": args.fps, "mode": "reference" if args.reference else "gallery",
                "reference": args.reference, "gallery": None if args.reference else (gallery.location),
                "threshold": getattr(identifier, "threshold", None), "url": client.base_url}
    write_json(args.json, {"settings": settings, "clips": clips})
    return BAD_INPUT if any(c["error"] for c in clips) else 0


def identify_clip(path: Path, client, identifier, args) -> dict:
    from tqdm import tqdm

    from ..video import clip as video
    from ..video.drawing import draw
    from ..video.frames import FrameIdentifier
    from ..video.timeline import Timeline
    from ..video.tracking import REID_EVERY

    entry = {"clip": str(path), "tracks": [], "frames": 0, "duration_s": None, "processing_s": None,
             "frames_per_s": None, "real_time_factor": None, "embeddings": 0, "lookups": 0, "error": None}
    frames = FrameIdentifier(client, identifier, args.fps)
    timeline, writer = Timeline(), None
    started = time.perf_counter()
    try:
        about = video.info(path)
        entry["duration_s"] = about.duration_s
        total = int(about.duration_s * args.fps) + 1 if about.duration_s else None
        with tqdm(total=total, desc=path.name, unit="frame", file=sys.stderr, leave=False) as bar:
            for t, frame in video.sampled_frames(path, args.fps):
                result = frames.process(frame)
                timeline.add(t, result.faces)
                if args.out:
                    writer = writer or video.VideoWriter(args.out, args.fps, about.width, about.height)
                    writer.write(draw(frame, result.faces, identifier.unknown))
                bar.update(1)
    except video.VideoError as exc:
        entry["error"] = {"code": exc.code, "message": exc.message}
        print(f"error: {exc.message}", file=sys.stderr)
    finally:
        if writer is not None:
            writer.close()
    seconds = time.perf_counter() - started
    entry.update(tracks=timeline.tracks(frames.tracker), frames=frames.frames, processing_s=round(seconds, 3),
                 frames_per_s=round(frames.frames / seconds, 2) if frames.frames else None,
                 embeddings=frames.embeddings, lookups=frames.tracker.lookups, reid_every=REID_EVERY)
    if entry["duration_s"] and frames.frames:
        entry["real_time_factor"] = round(entry["duration_s"] / seconds, 2)  # > 1: faster than real time
    return entry
