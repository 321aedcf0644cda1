"""`face-verify watch` end to end against the REAL server (tests/conftest.py's TorchServe):
bench/clips.py's cut clip as a file source (the astronaut, a stranger in her place, a hard cut,
the astronaut again) with events on stdout and through mosquitto; a live MJPEG camera stopped
with SIGTERM, the gallery open to other processes all along."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

pytest.importorskip("trackers")
pytest.importorskip("av")

from watch_parts import Mosquitto, mosquitto_binary, wait_for  # noqa: E402

from bench import clips  # noqa: E402
from bench.clips import MjpegServer  # noqa: E402
from client import FaceClient  # noqa: E402
from tests.conftest import REPO  # noqa: E402

pytestmark = pytest.mark.integration
ASTRONAUT = clips.ASTRONAUT


def jpeg(image) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def watch_command(server, *args: str) -> list[str]:
    return [sys.executable, "-m", "client", "watch", *args, "--url", server.base_url,
            "--key-file", str(server.workdir / "key_file.json")]


@pytest.fixture(scope="module")
def enrolled(torchserve_server, tmp_path_factory):
    from client.gallery import Gallery

    folder = tmp_path_factory.mktemp("watch-cli")
    clip = clips.packaged_cut_clip()
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client, \
            Gallery(str(folder / "gallery"), client=client) as gallery:
        assert gallery.enroll(ASTRONAUT, clips.packaged_people()[0].enrol).enrolled
    return clip, clips.write_mp4(clip, folder / "cut.mp4"), str(folder / "gallery")


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)")
def test_a_clip_watched_events_on_stdout_and_mqtt(enrolled, torchserve_server, tmp_path):
    import paho.mqtt.client as mqtt

    clip, video, gallery = enrolled
    broker = Mosquitto(tmp_path)
    received: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscriber.on_connect = lambda client, *args: client.subscribe("face-verify/door/#", qos=1)
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.on_message = lambda client, data, message: received.append((message.topic, json.loads(message.payload)))
    try:
        subscriber.connect("127.0.0.1", broker.port)
        subscriber.loop_start()
        assert subscribed.wait(10)
        done = subprocess.run(watch_command(torchserve_server, f"door={video}", "--gallery", gallery, "--fps", "10",
                                            "--mqtt", f"127.0.0.1:{broker.port}", "--health", str(tmp_path / "h.json")),
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        events = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(e["event"], e["identity"]) for e in events] == [
            ("appeared", ASTRONAUT), ("left", ASTRONAUT), ("unknown_face", None), ("left", None),
            ("appeared", ASTRONAUT), ("left", ASTRONAUT)]
        first, left, stranger, _, second, _ = events
        assert first["time"] <= 0.5 and 2.5 <= left["time"] < 3.0  # positions in the clip
        assert 3.0 <= stranger["time"] <= 3.5 and 5.5 <= second["time"] <= 6.0
        assert len({first["track"], stranger["track"], second["track"]}) == 3
        assert all(e["camera"] == "door" and set(e) == {"camera", "event", "identity", "score", "track", "time", "box"}
                   for e in events)
        assert wait_for(lambda: sum(topic.endswith("/left") for topic, _ in received) == 3, 10)
        assert [(t.rsplit("/", 1)[-1], b["identity"]) for t, b in received if not t.endswith("/present")] == [
            (e["event"], e["identity"]) for e in events]
        states = [b["present"] for t, b in received if t == "face-verify/door/present"]
        assert [ASTRONAUT] in states and states[-1] == []
        health = json.loads((tmp_path / "h.json").read_text())["cameras"]["door"]
        assert health["processed"] == 90 and health["reconnects"] == 0
    finally:
        subscriber.loop_stop()
        broker.stop()
    assert clip.duration_s == 9.0


def test_a_live_camera_stops_cleanly_on_sigterm(enrolled, torchserve_server, tmp_path):
    from client.gallery import Gallery

    clip, _, gallery = enrolled
    camera = MjpegServer([jpeg(clip.frame(t / 10)) for t in range(0, 25)])  # the astronaut, before the stranger
    events = tmp_path / "events.jsonl"
    health = tmp_path / "health.json"
    process = subprocess.Popen(watch_command(torchserve_server, "--camera", f"hall={camera.url}", "--gallery", gallery,
                                             "--events", str(events), "--health", str(health)),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: events.exists() and "appeared" in events.read_text(), 120), process.stderr
        with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client, \
                Gallery(gallery, client=client) as shared:  # the watch does not keep the folder to itself
            assert shared.count() == 1
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        camera.stop()
    assert process.returncode == 0, stderr[-2000:]
    assert "stopping (SIGTERM)" in stderr and "camera hall: connected" in stderr
    written = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["event"], e["identity"]) for e in written] == [("appeared", ASTRONAUT), ("left", ASTRONAUT)]
    assert written[0]["time"] > 1e9
    state = json.loads(health.read_text())["cameras"]["hall"]
    assert state["connected"] is False and state["processed"] > 0 and state["present"] == []


def test_the_services_gallery_by_name(enrolled, torchserve_server):
    """--gallery-name: the faces are named from a gallery the service keeps (no folder at all)."""
    from client.gallery import Gallery

    clip, video, _ = enrolled
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client:
        served = Gallery(client=client, name="watch-test")
        assert served.served and served.enroll(ASTRONAUT, clips.packaged_people()[0].enrol).enrolled
    done = subprocess.run(watch_command(torchserve_server, f"door={video}", "--gallery-name", "watch-test",
                                        "--fps", "10"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["event"], e["identity"]) for e in events] == [
        ("appeared", ASTRONAUT), ("left", ASTRONAUT), ("unknown_face", None), ("left", None),
        ("appeared", ASTRONAUT), ("left", ASTRONAUT)]
