"""Stream benchmark (`make bench-stream`): the Live tab's per-frame path and `video identify`
against a running service, on clips built by bench/clips.py.

    python -m bench.stream                       # `make serve`'s server (config.properties, ./key_file.json)
    python -m bench.stream --url http://127.0.0.1:PORT --key-file DIR/key_file.json

Writes reports/stream.json:
* live: frames answered per second and the delay per frame (median, p95) of the Live tab's
  handler (ui/live_tab.py: the frame as the browser sends it, a JPEG data URL, decoded as
  Gradio does, then the service call, tracking, drawing and the JPEG sent back), frames
  fed one after the other as fast as they are answered, at 640x480 with 1 face
  (scikit-image's astronaut) and 3 faces (three LFW people; skipped without the data).
  The browser's own transport is not included (tests/ui/test_ui_live_browser.py records
  the page's figures with Chromium on the same machine);
* lookups: per second of video (the LFW clip sampled at 10 fps), the faces the service
  embedded and the faces looked up in the gallery, with tracking (embedding only the faces
  due for a look-up, and every face of every frame) and without it (every face of every
  frame looked up, its name shown at once);
* accuracy on the LFW clip (three enrolled people and a stranger entering and leaving,
  at most 3 at once): per sampled frame (every face's shown name right; a pending `...`
  counts as wrong), per face, and per track (identity, start and end within 0.5 s), with
  and without tracking;
* video_identify: `python -m client video identify` on the LFW clip at 10 fps: frames/s
  processed and the real-time factor (video seconds per processing second);
* cut_clip: bench/clips.py's LFW cut clip (a stranger in an enrolled person's place, then a
  hard cut to another scene): segments right within 0.5 s, and names shown on frames where
  that person was not there (none expected);
* cameras: `watch`'s Watcher on 1, 2, 3 ... cameras, each an MJPEG stream over HTTP looping the
  LFW clip (640x480, 1 to 3 faces) at 10 frames/s, against a served gallery, for CAMERA_RUN_S
  seconds each: the share of the cameras' frames identified (1.0: it keeps up), event latency
  (frame decoded -> event sent, p50 / p95 over every event), embeddings and frames sent to
  the service per frame, CPU seconds per second of stream for this process (the readers,
  detection next to the cameras, tracking) and for the whole machine (the service included,
  and whatever else runs: "machine" records the load); then the most cameras with every
  frame sent to the service for its boxes, and one camera with every face embedded;
* targets: >= 10 frames/s and delay p95 <= 300 ms for the Live tab at up to 3 faces,
  >= 95% right names on sampled frames, video identify at least real time.

A benchmark, not a test: nothing here asserts a time. Run it under `flock /tmp/heavy.lock`
on a shared machine; "machine" records the load.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from bench import clips
from bench.target import REPO, Target, machine_state, write_report
from report.results import StreamReport

LIVE_FPS_TARGET = 10.0
DELAY_P95_TARGET_MS = 300.0
RIGHT_FRAMES_TARGET = 0.95
SAMPLE_FPS = 10.0
TOLERANCE_S = 0.5
CAMERA_RUN_S = 20.0
KEEPS_UP = 0.9  # share of a camera's frames identified for it to count as kept up with


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def data_url(frame) -> str:
    """The frame as the browser's webcam component sends it (a JPEG data URL)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=92)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def live_figures(client, gallery, clip: clips.Clip, warm_up: int = 5) -> dict:
    """The Live tab's handler on the clip's frames (at 10 fps of video), one after another."""
    from gradio.image_utils import decode_base64_to_image_array

    from ui.live_tab import GALLERY, LiveTab

    tab = LiveTab(client, gallery)
    urls = [data_url(frame) for t, frame in clip.frames() if round(t * clip.fps) % round(clip.fps / SAMPLE_FPS) == 0]
    browser = SimpleNamespace(session_hash="bench")  # what Gradio passes as the request
    delays, started = [], None
    for i, url in enumerate(urls):
        if i == warm_up:
            started = time.perf_counter()
        arrived = time.perf_counter()
        tab.frame(decode_base64_to_image_array(url), GALLERY, None, browser)
        if i >= warm_up:
            delays.append(time.perf_counter() - arrived)
    seconds = time.perf_counter() - started
    return {"frames": len(delays), "faces": len(clip.appearances), "size": list(clips.SIZE),
            "frames_per_s": round(len(delays) / seconds, 2),
            "delay_ms": {"p50": round(1000 * percentile(delays, 0.5), 1),
                         "p95": round(1000 * percentile(delays, 0.95), 1),
                         "max": round(1000 * max(delays), 1)}}


def clip_run(client, gallery, clip: clips.Clip, video: Path, tracking: bool, embed: str | None = None) -> dict:
    """The LFW clip identified as `video identify` does (`identify_clip`): look-ups, and
    accuracy per frame, per face and per track. embed: FrameIdentifier's (default its own)."""
    from client.video.drawing import PENDING_TEXT
    from client.video.identify import identify_clip

    right = {"frames": 0, "faces": 0, "present": 0}

    def score(t: float, frame, result) -> None:
        shown = [f.label.name if f.label.agreed else PENDING_TEXT for f in result.faces]
        present = clip.present(t)
        right["frames"] += sorted(shown, key=str) == sorted(present, key=str)
        remaining = list(present)
        for name in shown:  # a face is right when its name is one of those present (each once)
            if name in remaining:
                remaining.remove(name)
                right["faces"] += 1
        right["present"] += len(present)

    options = {} if embed is None else {"embed": embed}
    report = identify_clip(video, client, gallery, fps=SAMPLE_FPS, tracking=tracking, on_frame=score, **options)
    if report.error is not None:
        raise SystemExit(f"{video}: {report.error.message}")
    rows = clips.matched_tracks([track.model_dump() for track in report.tracks], clip)
    appearances = [r for r in rows if "extra" not in r]
    duration = clip.duration_s
    return {"frames": report.frames, "embeddings_per_video_s": round(report.embeddings / duration, 2),
            "lookups_per_video_s": round(report.lookups / duration, 2),
            "right_frames": round(right["frames"] / report.frames, 4),
            "right_faces": round(right["faces"] / right["present"], 4) if right["present"] else None,
            "right_tracks": round(sum(r["identity_ok"] and r["start_error_s"] <= TOLERANCE_S
                                      and r["end_error_s"] <= TOLERANCE_S for r in appearances) / len(appearances), 4),
            "extra_tracks": len(rows) - len(appearances), "timeline": appearances}


def cut_clip_run(client, gallery, clip: clips.Clip, video: Path) -> dict:
    """The cut clip: its segments against the truth, and every name shown on a sampled frame
    where that person was not there."""
    from client.video.identify import identify_clip

    wrong = []

    def check(t: float, frame, result) -> None:
        present = clip.present(t)
        wrong.extend({"time": round(t, 2), "track": f.track, "shown": f.label.name} for f in result.faces
                     if f.label.agreed and f.label.name is not None and f.label.name not in present)

    report = identify_clip(video, client, gallery, fps=SAMPLE_FPS, on_frame=check)
    if report.error is not None:
        raise SystemExit(f"{video}: {report.error.message}")
    rows = clips.matched_tracks([track.model_dump() for track in report.tracks], clip)
    appearances = [r for r in rows if "extra" not in r]
    return {"right_tracks": round(sum(r["identity_ok"] and r["start_error_s"] <= TOLERANCE_S
                                      and r["end_error_s"] <= TOLERANCE_S for r in appearances) / len(appearances), 4),
            "extra_tracks": len(rows) - len(appearances), "wrong_names_shown": wrong,
            "scene_cuts": report.scene_cuts, "track_splits": report.track_splits,
            "embeddings_per_video_s": round(report.embeddings / clip.duration_s, 2), "timeline": appearances}


class _Collected:
    """A sink that keeps the events (the figures are taken from the cameras' own timings)."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def send(self, event: dict) -> None:
        self.events.append(event)

    def present(self, camera: str, state: dict) -> None:
        pass

    def close(self) -> None:
        pass


def cameras_run(target: Target, people: list[clips.Person], clip: clips.Clip, counts: list[int],
                seconds: float) -> dict:
    """`watch` on `count` MJPEG cameras looping the clip at SAMPLE_FPS against the service's
    gallery (`people` enrolled in a served gallery of the bench's own, removed after), for each
    count: frames detected next to the cameras and the faces due for a look-up embedded; then
    the same with every frame sent to the service for its boxes, and with every face of every
    frame embedded (the compute each saving saves)."""
    import threading

    import psutil

    from client import FaceClient, read_key_file
    from client.cameras.lookup import SharedGalleryIdentifier
    from client.cameras.sources import Camera
    from client.cameras.watch import Watcher
    from report.results import LatencySummary

    step = round(clip.fps / SAMPLE_FPS)
    jpegs = [base64.b64decode(data_url(frame).split(",", 1)[1]) for t, frame in clip.frames()
             if round(t * clip.fps) % step == 0]
    token = read_key_file(target.key_file)
    from client.gallery import Gallery
    from client.video.frames import EVERY_FACE, NEEDED_FACES

    gallery_name = f"bench-stream-{os.getpid()}"
    with Gallery(client=FaceClient(target.inference, token=token), name=gallery_name) as gallery:
        for person in people:
            if person.enrol:
                gallery.enroll(person.name, person.enrol)
    here, sent = (NEEDED_FACES, True), (NEEDED_FACES, False)  # (embed, detected next to the camera)
    runs = [(count, *here) for count in counts] + [(max(counts), *sent), (1, EVERY_FACE, False)]
    rows = []
    for count, embed, detect_here in runs:
        servers = [clips.MjpegServer(jpegs, fps=SAMPLE_FPS) for _ in range(count)]
        sink = _Collected()
        identifier = SharedGalleryIdentifier(None, FaceClient(target.inference, token=token), name=gallery_name)
        watcher = Watcher([Camera(f"cam{i + 1}", server.url) for i, server in enumerate(servers)],
                          lambda: FaceClient(target.inference, token=token), identifier, [sink], fps=SAMPLE_FPS,
                          frame_options={"embed": embed, "detect_here": detect_here})
        stop = threading.Event()
        runner = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        runner.start()
        time.sleep(3.0)  # connected and warmed up before the measured part
        start = {w.camera.name: (w.processed, w.source.state.frames) for w in watcher.watches}
        first_event = len(sink.events)
        latencies_before = {w.camera.name: len(w.latencies) for w in watcher.watches}
        cpu, machine, began = time.process_time(), psutil.cpu_times(), time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - began
        cpu_s, after = time.process_time() - cpu, psutil.cpu_times()
        machine_s = (after.user + after.system) - (machine.user + machine.system)
        processed = {w.camera.name: w.processed - start[w.camera.name][0] for w in watcher.watches}
        decoded = {w.camera.name: w.source.state.frames - start[w.camera.name][1] for w in watcher.watches}
        latencies = [s for w in watcher.watches for s in list(w.latencies)[latencies_before[w.camera.name]:]]
        stop.set()
        runner.join(30)
        for server in servers:
            server.stop()
        shares = [processed[name] / (elapsed * SAMPLE_FPS) for name in processed]
        identified = max(1, sum(w.processed for w in watcher.watches))  # over the whole run, warm-up included
        embedded = sum(w.frames.embeddings for w in watcher.watches)
        sent_frames = sum(w.frames.embedder.sent_frames for w in watcher.watches)
        identifier.close()
        rows.append({"cameras": count, "embed": embed, "detected": "camera side" if detect_here else "service",
                     "fps": SAMPLE_FPS, "seconds": round(elapsed, 1),
                     "identified_share": {"min": round(min(shares), 3), "mean": round(sum(shares) / count, 3)},
                     "keeps_up": min(shares) >= KEEPS_UP,
                     "frames_decoded_per_s": round(sum(decoded.values()) / elapsed / count, 2),
                     "events": len(sink.events) - first_event,
                     "embeddings_per_identified_frame": round(embedded / identified, 2),
                     "frames_sent_per_identified_frame": round(sent_frames / identified, 3),
                     "event_latency_ms": LatencySummary.of(latencies, "ms") if latencies else None,
                     "cpu_per_stream": {"this_process": round(cpu_s / elapsed / count, 3),
                                        "machine": round(machine_s / elapsed / count, 3)}})
        print(f"cameras={count} ({embed}, detected {rows[-1]['detected']}): identified share "
              f"{rows[-1]['identified_share']}, latency {rows[-1]['event_latency_ms']}", file=sys.stderr)
    with Gallery(client=FaceClient(target.inference, token=token), name=gallery_name) as gallery:
        for person in people:
            if person.enrol:
                gallery.remove(person.name)
    kept = [row["cameras"] for row in rows if row["keeps_up"] and (row["embed"], row["detected"]) == (NEEDED_FACES,
                                                                                                      "camera side")]
    return {"clip": "LFW clip looped (1-3 faces)", "size": list(clips.SIZE), "keeps_up_threshold": KEEPS_UP,
            "most_cameras_kept_up": max(kept) if kept else 0, "runs": rows}


def video_identify(target: Target, video: Path, gallery_dir: str, out: Path) -> dict:
    command = [sys.executable, "-m", "client", "video", "identify", str(video), "--gallery", gallery_dir,
               "--fps", str(SAMPLE_FPS), "--json", str(out), "--url", target.inference,
               "--key-file", str(target.key_file)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"video identify failed ({done.returncode}): {done.stderr[-1500:]}")
    entry = json.loads(out.read_text())["clips"][0]
    return {key: entry[key] for key in ("frames", "duration_s", "processing_s", "frames_per_s", "real_time_factor")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="inference address (default: config.properties)")
    parser.add_argument("--management", default=None, help="management address (default: config.properties)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json (default ./key_file.json)")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding lfw/ (default $DATA_DIR)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "stream.json")
    parser.add_argument("--cameras", default="1,2,3,4", help="camera counts to run watch with (default 1,2,3,4)")
    parser.add_argument("--camera-seconds", type=float, default=CAMERA_RUN_S,
                        help=f"seconds measured per camera count (default {CAMERA_RUN_S:g})")
    args = parser.parse_args(argv)

    from client import FaceClient, read_key_file
    from client.gallery import Gallery
    from data.lfw import default_data_dir

    target = Target.from_args(args.url, args.management, args.key_file)
    target.check()
    data_dir = args.data_dir or default_data_dir()
    has_data = (Path(data_dir) / "lfw" / "peopleDevTest.txt").is_file()
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    command = " ".join(["python -m bench.stream", *(argv if argv is not None else sys.argv[1:])])
    report = {"command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": machine_state(), "sample_fps": SAMPLE_FPS}
    packaged = clips.packaged_people()
    people = packaged + (clips.lfw_people(data_dir) if has_data else [])
    with FaceClient(target.inference, token=read_key_file(target.key_file)) as client, \
            Gallery(str(work / "gallery"), client=client) as gallery:
        for person in people:
            if person.enrol:
                gallery.enroll(person.name, person.enrol)
        live = {"1_face": live_figures(client, gallery, clips.crowd(packaged[:1]))}
        if has_data:
            live["3_faces"] = live_figures(client, gallery, clips.crowd([p for p in people[2:] if p.enrol][:3]))
            clip = clips.lfw_clip(data_dir)
            video = clips.write_mp4(clip, work / "lfw.mp4")
            from client.video.frames import EVERY_FACE

            report["lfw_clip"] = {"people": [p.name for p in clip.people], "truth": clip.truth(),
                                  "with_tracking": clip_run(client, gallery, clip, video, True),
                                  "with_tracking_every_face_embedded": clip_run(client, gallery, clip, video, True,
                                                                                EVERY_FACE),
                                  "without_tracking": clip_run(client, gallery, clip, video, False)}
            cut = clips.lfw_cut_clip(data_dir)
            report["cut_clip"] = cut_clip_run(client, gallery, cut, clips.write_mp4(cut, work / "cut.mp4"))
        else:
            report["lfw_clip"] = f"skipped: no LFW at {data_dir}"
        report["live"] = live
    if has_data:
        gallery_dir = str(work / "gallery")
        report["video_identify"] = video_identify(target, work / "lfw.mp4", gallery_dir, work / "identify.json")
        counts = [int(n) for n in args.cameras.split(",") if n.strip()]
        report["cameras"] = cameras_run(target, people, clips.lfw_clip(data_dir), counts, args.camera_seconds)
    worst = max(live.values(), key=lambda f: f["delay_ms"]["p95"])
    slowest = min(live.values(), key=lambda f: f["frames_per_s"])
    report["targets"] = {
        "live_frames_per_s": {"target": LIVE_FPS_TARGET, "measured": slowest["frames_per_s"],
                              "met": slowest["frames_per_s"] >= LIVE_FPS_TARGET},
        "live_delay_p95_ms": {"target": DELAY_P95_TARGET_MS, "measured": worst["delay_ms"]["p95"],
                              "met": worst["delay_ms"]["p95"] <= DELAY_P95_TARGET_MS}}
    if has_data:
        right = report["lfw_clip"]["with_tracking"]["right_frames"]
        factor = report["video_identify"]["real_time_factor"]
        report["targets"]["right_frames"] = {"target": RIGHT_FRAMES_TARGET, "measured": right,
                                             "met": right >= RIGHT_FRAMES_TARGET}
        report["targets"]["video_identify_real_time_factor"] = {"target": 1.0, "measured": factor, "met": factor >= 1.0}
    print(json.dumps(report["targets"], indent=2))
    write_report(args.out, report, StreamReport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
