"""Cameras watched (client/cameras/) with real sources and sinks on 127.0.0.1: a video file,
an RTSP stream (GStreamer's RTSP server) killed and restarted mid-run, an MJPEG stream over HTTP that drops,
MQTT through mosquitto (events and the retained who-is-here state, read by a paho
subscriber), a webhook that fails before it accepts. The face service is a stand-in that
finds coloured squares (watch_parts.py): the real service is test_client_watch_cli.py's."""
from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("trackers")
pytest.importorskip("av")

from watch_parts import (  # noqa: E402
    ByColour,
    Mosquitto,
    RtspStream,
    Square,
    SquareFaces,
    WebhookReceiver,
    jpeg_frames,
    mosquitto_binary,
    read_events,
    rtsp_server_missing,
    wait_for,
    write_clip,
)

from bench.clips import MjpegServer  # noqa: E402
from client.cameras.events import Presence  # noqa: E402
from client.cameras.sinks import JsonLinesSink, MqttSink, WebhookSink  # noqa: E402
from client.cameras.snapshots import SnapshotFolder  # noqa: E402
from client.cameras.sources import Camera, parse_camera  # noqa: E402
from client.cameras.watch import Watcher  # noqa: E402
from client.video.frames import EVERY_FACE  # noqa: E402
from client.video.quality import FaceQuality  # noqa: E402

FPS = 10
# ada (red) from 0.5 to 2.5 s, nobody, then a stranger (blue) from 3.5 to 5 s
VISITS = [Square("ada", 0.5, 2.5, 40, 60), Square(None, 3.5, 5.0, 180, 100)]
ALWAYS_ADA = [Square("ada", 0.0, 100.0, 40, 60)]
FAST_RECONNECT = {"backoff_s": 0.2, "max_backoff_s": 1.0, "read_timeout_s": 3.0, "open_timeout_s": 3.0}
# flat squares have no texture to measure; the stand-in answers whole frames (every face embedded)
SQUARES = {"quality": FaceQuality(min_sharpness=0), "embed": EVERY_FACE}


def watcher(cameras, sinks, **options) -> Watcher:
    return Watcher(cameras, SquareFaces, ByColour(), sinks, fps=FPS, frame_options=SQUARES, **options)


def summary(events: list[dict]) -> list[tuple]:
    return [(e["camera"], e["event"], e["identity"]) for e in events]


@pytest.fixture(scope="module")
def visits_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("watch") / "visits.mp4", VISITS, 6.0)


def test_camera_names_and_sources():
    assert parse_camera("door=rtsp://u:p@10.0.0.2/s", 1) == Camera("door", "rtsp://u:p@10.0.0.2/s")
    assert parse_camera("rtsp://10.0.0.2/s", 2) == Camera("cam2", "rtsp://10.0.0.2/s")
    assert parse_camera("/tmp/front door.mp4", 1).name == "front_door"
    assert Camera("a", "/dev/video0").live and Camera("a", "https://x/s.m3u8").live
    assert not Camera("a", "clip.mp4").live


def test_a_file_gives_events_at_clip_positions_and_ends(visits_clip, tmp_path):
    out = tmp_path / "events.jsonl"
    sink = JsonLinesSink(out)
    health = tmp_path / "health.json"
    final = watcher([Camera("hall", str(visits_clip))], [sink], health=str(health)).run(threading.Event())
    sink.close()
    events = read_events(out)
    assert summary(events) == [("hall", "appeared", "ada"), ("hall", "left", "ada"),
                               ("hall", "unknown_face", None), ("hall", "left", None)]
    appeared, left, unknown, gone = events
    assert 0.5 <= appeared["time"] <= 0.5 + 0.3 and 2.3 <= left["time"] <= 2.5  # positions in the clip
    assert 3.5 <= unknown["time"] <= 3.5 + 0.3 and 4.7 <= gone["time"] <= 5.0
    assert appeared["score"] == 0.9 and appeared["track"] == left["track"] != unknown["track"]
    assert len(appeared["box"]) == 4 and appeared["box"][2] == pytest.approx(60, abs=3)
    written = json.loads(health.read_text())["cameras"]["hall"]
    assert written == final["hall"] and written["frames"] == written["processed"] == 60
    assert written["connected"] is False and written["reconnects"] == 0 and written["present"] == []


def test_unknown_face_crops_only_when_asked_and_bounded(tmp_path):
    clip = write_clip(tmp_path / "strangers.mp4", [Square(None, 0.2 + 1.5 * i, 1.2 + 1.5 * i, 30 + 60 * i, 50)
                                                   for i in range(3)], 5.0)
    out = tmp_path / "events.jsonl"
    sink = JsonLinesSink(out)
    folder = tmp_path / "crops"
    watcher([Camera("gate", str(clip))], [sink], snapshots=SnapshotFolder(folder, max_files=2)).run(threading.Event())
    sink.close()
    unknown = [e for e in read_events(out) if e["event"] == "unknown_face"]
    assert len(unknown) == 3 and all("snapshot" in e for e in unknown)
    kept = sorted(folder.iterdir())
    assert [p.name for p in kept] == sorted(e["snapshot"].rsplit("/", 1)[-1] for e in unknown[1:])
    from PIL import Image

    with Image.open(kept[0]) as crop:
        assert crop.size[0] < 120 and crop.size[1] < 120  # the face and a margin, not the frame


def test_presence_turns_a_name_change_into_left_and_appeared():
    from client.video.tracking import Label, TrackedFace

    presence = Presence("door")
    box = (1.0, 2.0, 50.0, 50.0)
    first = presence.update(1.0, [TrackedFace(1, box, Label(True, "ada", 0.8), True)])
    assert [(e.event, e.identity) for e in first] == [("appeared", "ada")] and presence.present() == ["ada"]
    assert presence.update(1.1, [TrackedFace(1, box, Label(False, None, None), False)]) == []
    changed = presence.update(1.2, [TrackedFace(1, box, Label(True, "bob", 0.7), True)])
    assert [(e.event, e.identity) for e in changed] == [("left", "ada"), ("appeared", "bob")]
    gone = presence.update(2.5, [], ended=[1])
    assert [(e.event, e.identity, e.time) for e in gone] == [("left", "bob", 1.2)] and presence.present() == []


@pytest.mark.integration  # a mosquitto broker process
@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)")
def test_mqtt_events_and_the_retained_present_state(visits_clip, tmp_path):
    import paho.mqtt.client as mqtt

    broker = Mosquitto(tmp_path)
    received: list[tuple[str, dict | str, bool]] = []
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscribed = threading.Event()
    subscriber.on_connect = lambda client, *args: client.subscribe("face-verify/#", qos=1)
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.on_message = lambda client, data, message: received.append(
        (message.topic, _payload(message.payload), bool(message.retain)))
    try:
        subscriber.connect("127.0.0.1", broker.port)
        subscriber.loop_start()
        assert subscribed.wait(10)
        sink = MqttSink("127.0.0.1", broker.port)
        watcher([Camera("hall", str(visits_clip))], [sink]).run(threading.Event())
        sink.close()
        assert wait_for(lambda: sum(t.endswith("/left") for t, _, _ in received) == 2, 10)
        events = [(topic, body["identity"]) for topic, body, _ in received if "/hall/" in topic
                  and not topic.endswith("/present")]
        assert events == [("face-verify/hall/appeared", "ada"), ("face-verify/hall/left", "ada"),
                          ("face-verify/hall/unknown_face", None), ("face-verify/hall/left", None)]
        states = [body for topic, body, _ in received if topic == "face-verify/hall/present"]
        assert [(s["present"], s["unknown"]) for s in states] == [([], 0), (["ada"], 0), ([], 0), ([], 1), ([], 0)]
        assert ("face-verify/status", "online", False) in received

        late: list = []  # a subscriber that connects later (Home Assistant restarted) gets the state at once
        latecomer = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        latecomer.on_connect = lambda client, *args: client.subscribe("face-verify/hall/present")
        latecomer.on_message = lambda client, data, message: late.append((_payload(message.payload), message.retain))
        latecomer.connect("127.0.0.1", broker.port)
        latecomer.loop_start()
        assert wait_for(lambda: late, 10)
        latecomer.loop_stop()
        assert late[0][1] and late[0][0]["present"] == [] and late[0][0]["camera"] == "hall"
    finally:
        subscriber.loop_stop()
        broker.stop()


def _payload(raw: bytes):
    text = raw.decode()
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_the_webhook_gets_every_event_after_failures(visits_clip):
    receiver = WebhookReceiver(fail_first=2)
    try:
        sink = WebhookSink(receiver.url, retries=4, backoff_s=0.05)
        watcher([Camera("hall", str(visits_clip))], [sink]).run(threading.Event())
        sink.close()
        assert summary(receiver.received) == [("hall", "appeared", "ada"), ("hall", "left", "ada"),
                                              ("hall", "unknown_face", None), ("hall", "left", None)]
        assert receiver.attempts == 6 and sink.dropped == 0
    finally:
        receiver.stop()


def test_a_webhook_that_stays_down_drops_events_without_holding_the_camera(visits_clip):
    sink = WebhookSink("http://127.0.0.1:9/never", retries=1, backoff_s=0.01, timeout_s=0.5)
    watcher([Camera("hall", str(visits_clip))], [sink]).run(threading.Event())
    sink.close()
    assert sink.dropped == 4 and sink.delivered == 0


def run_live(cameras, out, health, **options):
    sink = JsonLinesSink(out)
    stop = threading.Event()
    watch = watcher(cameras, [sink], health=str(health), health_every_s=0.5, source_options=FAST_RECONNECT,
                    **options)
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    return watch, stop, thread, sink


@pytest.mark.integration  # GStreamer's RTSP server in a process, killed and started again
def test_an_rtsp_stream_killed_and_restarted(tmp_path):
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    clip = write_clip(tmp_path / "ada.mp4", ALWAYS_ADA, 60.0, fps=10)
    stream = RtspStream(clip)
    out, health = tmp_path / "events.jsonl", tmp_path / "health.json"
    stream.start()
    watch, stop, thread, sink = run_live([Camera("door", stream.url)], out, health)
    try:
        assert wait_for(lambda: summary(read_events(out)) == [("door", "appeared", "ada")], 40), read_events(out)
        assert wait_for(lambda: json.loads(health.read_text())["cameras"]["door"]["connected"], 10)
        stream.kill()  # the camera goes away...
        assert wait_for(lambda: len(read_events(out)) >= 2, 20), read_events(out)
        stream.start()  # ...and comes back
        assert wait_for(lambda: len(read_events(out)) >= 3, 40), read_events(out)
    finally:
        stop.set()
        thread.join(20)
        stream.kill()
        sink.close()
    events = read_events(out)
    assert summary(events) == [("door", "appeared", "ada"), ("door", "left", "ada"), ("door", "appeared", "ada"),
                               ("door", "left", "ada")]
    assert events[0]["track"] != events[2]["track"] and events[1]["time"] < events[2]["time"]
    assert not thread.is_alive()
    state = json.loads(health.read_text())["cameras"]["door"]
    assert state["reconnects"] >= 1 and state["processed"] >= 4 and state["connected"] is False
    assert state["event_latency_ms"]["p50"] is not None


def test_an_mjpeg_stream_that_drops_and_two_cameras_at_once(visits_clip, tmp_path):
    server = MjpegServer(jpeg_frames(ALWAYS_ADA, 2.0))
    out, health = tmp_path / "events.jsonl", tmp_path / "health.json"
    watch, stop, thread, sink = run_live([Camera("porch", server.url), Camera("hall", str(visits_clip))], out, health)
    try:
        assert wait_for(lambda: ("porch", "appeared", "ada") in summary(read_events(out)), 30), read_events(out)
        server.dropping.set()  # every connection closed: the reader sees the stream end
        assert wait_for(lambda: ("porch", "left", "ada") in summary(read_events(out)), 20), read_events(out)
        server.dropping.clear()
        assert wait_for(lambda: summary(read_events(out)).count(("porch", "appeared", "ada")) == 2, 30)
        assert wait_for(lambda: watch.watches[1].processed == 60, 60)  # the file camera went to its end
    finally:
        stop.set()
        thread.join(20)
        server.stop()
        sink.close()
    events = read_events(out)
    assert [e for e in summary(events) if e[0] == "hall"] == [("hall", "appeared", "ada"), ("hall", "left", "ada"),
                                                              ("hall", "unknown_face", None), ("hall", "left", None)]
    porch = [e for e in events if e["camera"] == "porch"]
    assert summary(porch) == [("porch", "appeared", "ada"), ("porch", "left", "ada")] * 2
    assert porch[0]["time"] > 1e9  # a live camera's events carry Unix time
    state = json.loads(health.read_text())["cameras"]
    assert state["porch"]["reconnects"] >= 1 and server.connections >= 2
    assert state["hall"]["frames"] == 60


def test_the_gallery_folder_is_not_kept_from_other_processes(tmp_path):
    from client.cameras.lookup import SharedGalleryIdentifier
    from client.gallery import Gallery, GalleryError
    from client.models import EmbeddedFace, EmbeddingResult

    folder = str(tmp_path / "gallery")
    Gallery(folder).close()
    shared = SharedGalleryIdentifier(folder, client=None, wait_s=0.3)
    answer = EmbeddingResult(model="face-embed:x", threshold=0.3,
                             faces=[EmbeddedFace(box=(0, 0, 50, 50), confidence=0.9, embedding=[1.0, 0.0])])
    with Gallery(folder):  # another process enrolling: the watch waits for it...
        with pytest.raises(GalleryError) as caught:
            shared.names(answer)
        assert caught.value.code == "store_unavailable"
    assert [look.name for look in shared.names(answer)] == [None]  # ...and, once it is done, looks up again
    with Gallery(folder):  # between look-ups the folder is free
        pass


def test_an_hls_stream_over_http(tmp_path):
    """HLS (a playlist of MPEG-TS segments over HTTP), as cameras' cloud gateways and
    go2rtc serve it: PyAV's FFmpeg reads the playlist and its segments."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import av
    from watch_parts import frame

    folder = tmp_path / "hls"
    folder.mkdir()
    with av.open(str(folder / "index.m3u8"), "w", format="hls",
                 options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(40):
            picture = av.VideoFrame.from_ndarray(frame(ALWAYS_ADA, i / 10), format="rgb24")
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    out_file, health = tmp_path / "events.jsonl", tmp_path / "health.json"
    url = f"http://127.0.0.1:{httpd.server_address[1]}/index.m3u8"
    watch, stop, thread, sink = run_live([Camera("gate", url)], out_file, health)
    try:
        assert wait_for(lambda: ("gate", "appeared", "ada") in summary(read_events(out_file)), 30)
    finally:
        stop.set()
        thread.join(20)
        httpd.shutdown()
        httpd.server_close()
        sink.close()
    events = summary(read_events(out_file))
    assert events[0] == ("gate", "appeared", "ada") and events[-1] == ("gate", "left", "ada")
    assert json.loads(health.read_text())["cameras"]["gate"]["processed"] >= 2


def test_the_command_exits_5_on_an_unreadable_file(tmp_path):
    """A video file that cannot be read: said in the log, exit status 5 (no face service needed)."""
    import subprocess
    import sys
    from pathlib import Path

    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    done = subprocess.run([sys.executable, "-m", "client", "watch", str(broken), "--gallery", str(tmp_path / "g"),
                           "--url", "http://127.0.0.1:9", "--retries", "0", "--log-level", "WARNING"],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr[-2000:]
    assert "camera broken: " in done.stderr and "unreadable video: broken" in done.stderr and done.stdout == ""
