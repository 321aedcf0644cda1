"""`watch SOURCE [SOURCE ...]`: cameras watched for people until stopped (Ctrl-C, SIGTERM),
events as JSON lines on stdout (or --events FILE), to a webhook (--webhook URL) and to MQTT
(--mqtt HOST[:PORT]). A source: rtsp://..., http(s)://... (MJPEG, HLS), /dev/videoN, or a
video file (events timed by the position in the clip; the watch ends at its end, and exits 5
when a file could not be read); name one with NAME=SOURCE (`--camera door=rtsp://...` or a
bare `door=rtsp://...`). --collect-unknown [STATE_DIR]: the faces of people nobody enrolled go
to a people state (client/people/unknown.py), each person a group to name. docs/cameras.md."""
from __future__ import annotations

import logging
import signal
import sys
import threading

from .common import make_client
from .people import add_collect_option, collected, collector

BAD_INPUT = 5  # a video file that cannot be read (as `video identify`)
DEFAULT_FPS = 5.0
DEFAULT_SNAPSHOTS = 100
MQTT_PORT = 1883


def add(commands, common) -> None:
    watch = commands.add_parser("watch", parents=[common], help="watch cameras for people (events, MQTT, webhook)",
                                description=__doc__)
    watch.add_argument("sources", nargs="*", metavar="SOURCE",
                       help="rtsp:// or http(s):// stream, /dev/videoN, or a video file; NAME=SOURCE names it")
    watch.add_argument("--camera", action="append", default=[], metavar="NAME=SOURCE",
                       help="a named camera (repeat for several)")
    who = watch.add_mutually_exclusive_group()
    who.add_argument("--gallery-name", default=None, metavar="NAME",
                     help="name faces from the service's gallery NAME (default `default`: the gallery the CLI "
                          "and the web page use)")
    who.add_argument("--gallery", default=None, metavar="FOLDER|URL",
                     help="instead, a gallery this process opens: a folder (opened for each look-up, so others "
                          "can enrol meanwhile) or a Qdrant server URL (default $FACE_GALLERY if set)")
    watch.add_argument("--fps", type=float, default=DEFAULT_FPS,
                       help=f"frames identified per second per camera (default {DEFAULT_FPS:g})")
    watch.add_argument("--min-face", type=float, default=None, metavar="PX",
                       help="faces less tall than this are left out (default 40)")
    watch.add_argument("--events", default="-", metavar="FILE", help="JSON lines of events (default stdout)")
    watch.add_argument("--webhook", default=None, metavar="URL", help="POST each event to this URL as JSON")
    watch.add_argument("--webhook-retries", type=int, default=5, help="extra tries per event (default 5)")
    watch.add_argument("--mqtt", default=None, metavar="HOST[:PORT]",
                       help=f"publish to this MQTT broker (port {MQTT_PORT} by default)")
    watch.add_argument("--mqtt-user", default=None)
    watch.add_argument("--mqtt-password", default=None, help="(default $FACE_VERIFY_MQTT_PASSWORD)")
    watch.add_argument("--mqtt-prefix", default="face-verify", help="topic prefix (default face-verify)")
    watch.add_argument("--health", default=None, metavar="FILE",
                       help="write each camera's state here as JSON (connected, frames, reconnects, ...)")
    watch.add_argument("--snapshots", default=None, metavar="DIR",
                       help="keep unknown faces' crops here (off by default; whole frames are never kept)")
    watch.add_argument("--snapshots-max", type=int, default=DEFAULT_SNAPSHOTS,
                       help=f"crops kept in --snapshots, the oldest deleted (default {DEFAULT_SNAPSHOTS})")
    add_collect_option(watch)
    watch.add_argument("--reconnect-max", type=float, default=30.0, metavar="S",
                       help="longest wait between tries to reopen a dropped stream (default 30 s)")
    watch.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    watch.set_defaults(func=cmd_watch)


def cameras_of(args) -> list:
    from ..cameras.sources import parse_camera

    specs = list(args.sources) + list(args.camera)
    if not specs:
        raise SystemExit("error: give at least one SOURCE or --camera NAME=SOURCE")
    return [parse_camera(spec, i) for i, spec in enumerate(specs, start=1)]


def broker(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    try:
        return (host or address), int(port) if port else MQTT_PORT
    except ValueError:
        raise SystemExit(f"error: --mqtt {address}: expected HOST or HOST:PORT") from None


def cmd_watch(args) -> int:
    import os

    if args.fps <= 0:
        raise SystemExit("error: --fps must be > 0")
    try:
        from ..cameras import sinks as event_sinks
        from ..cameras.lookup import SharedGalleryIdentifier
        from ..cameras.snapshots import SnapshotFolder
        from ..cameras.watch import Watcher
    except ImportError as exc:
        raise SystemExit("error: watch needs the `cameras` extra "
                         f"(pip install 'face-verify-client[cameras]'): {exc}") from None
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    cameras = cameras_of(args)
    sinks: list = [event_sinks.JsonLinesSink(args.events)]
    if args.webhook:
        sinks.append(event_sinks.WebhookSink(args.webhook, retries=args.webhook_retries))
    if args.mqtt:
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            raise SystemExit("error: --mqtt needs paho-mqtt (pip install 'face-verify-client[cameras]')") from None
        host, port = broker(args.mqtt)
        sinks.append(event_sinks.MqttSink(host, port, username=args.mqtt_user, prefix=args.mqtt_prefix,
                                          password=args.mqtt_password or os.environ.get("FACE_VERIFY_MQTT_PASSWORD")))
    snapshots = SnapshotFolder(args.snapshots, args.snapshots_max) if args.snapshots else None
    collect = collector(args)
    identifier = SharedGalleryIdentifier(args.gallery, make_client(args), name=args.gallery_name)
    frame_options = {} if args.min_face is None else {"min_face": args.min_face}
    watcher = Watcher(cameras, lambda: make_client(args), identifier, sinks, fps=args.fps, health=args.health,
                      snapshots=snapshots, source_options={"max_backoff_s": args.reconnect_max},
                      frame_options=frame_options, collect=collect)
    stop = threading.Event()

    def stop_watching(signum, frame) -> None:
        logging.getLogger("face_verify.watch").info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, stop_watching)
    signal.signal(signal.SIGTERM, stop_watching)
    try:
        final = watcher.run(stop)
    finally:
        for sink in sinks:
            sink.close()
        identifier.close()
        if collect is not None:
            collected(collect)
    unreadable = [c.name for c in cameras if not c.live and final[c.name]["last_error"]]
    if unreadable:
        print(f"error: unreadable video: {', '.join(unreadable)}", file=sys.stderr)
        return BAD_INPUT
    return 0
