"""Where events go: JSON lines (stdout or a file), a webhook, an MQTT broker. Each sink has
`send(event)` (an Event's dict), `present(camera, state)` (who is here now, sent when it
changes) and `close()`.

The webhook and MQTT sinks never hold a camera up: events are queued and sent from their own
thread; an event that cannot be delivered is retried with a growing wait, then dropped with
a warning in the log (a sink that is down for good must not fill the memory).
"""
from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from pathlib import Path
from typing import IO, Protocol

logger = logging.getLogger("face_verify.watch")

TOPIC_PREFIX = "face-verify"


class Sink(Protocol):
    def send(self, event: dict) -> None: ...

    def present(self, camera: str, state: dict) -> None: ...

    def close(self) -> None: ...


class JsonLinesSink:
    """One JSON object per line, flushed at once; `path` None or "-": stdout. Who is here is
    not written (it follows from the events)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.own = path not in (None, "-")
        self.out: IO[str] = open(path, "a", encoding="utf-8") if self.own else sys.stdout  # type: ignore[arg-type]
        self.lock = threading.Lock()

    def send(self, event: dict) -> None:
        with self.lock:
            self.out.write(json.dumps(event) + "\n")
            self.out.flush()

    def present(self, camera: str, state: dict) -> None:
        pass

    def close(self) -> None:
        if self.own:
            self.out.close()


class _Queued:
    """A sink that delivers from its own thread; `_deliver(kind, payload)` raises to retry."""

    def __init__(self, name: str, retries: int, backoff_s: float, max_backoff_s: float, max_queue: int) -> None:
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.delivered = self.dropped = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send(self, event: dict) -> None:
        self._put(("event", event))

    def present(self, camera: str, state: dict) -> None:
        self._put(("present", state))

    def _put(self, item: tuple) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            logger.warning("%s: queue full, event dropped", self._thread.name)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            wait = self.backoff_s
            for attempt in range(self.retries + 1):
                try:
                    self._deliver(*item)
                    self.delivered += 1
                    break
                except Exception as exc:  # any failure of the far end: retried, then dropped
                    if attempt == self.retries:
                        self.dropped += 1
                        logger.warning("%s: gave up after %d tries: %s", self._thread.name, attempt + 1, exc)
                    else:
                        logger.info("%s: %s; retrying in %.1f s", self._thread.name, exc, wait)
                        if self._stopping.wait(wait):
                            wait = 0.0  # stopping: the last tries go at once
                        wait = min(self.max_backoff_s, wait * 2) if wait else 0.0

    def _deliver(self, kind: str, payload: dict) -> None:
        raise NotImplementedError

    def close(self, timeout_s: float = 5.0) -> None:
        """Sends what is queued (for at most `timeout_s`), then stops."""
        self._stopping.set()
        self.queue.put(None)
        self._thread.join(timeout_s)


class WebhookSink(_Queued):
    """Each event POSTed as JSON to `url`; who-is-here states too when `present_too`.

    retries: extra tries per event after a failure (a connection error, a timeout, a status
        other than 2xx); backoff_s doubling up to max_backoff_s between them.
    timeout_s: per request. headers: added to each request (e.g. Authorization).
    """

    def __init__(self, url: str, *, retries: int = 5, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 timeout_s: float = 5.0, headers: dict[str, str] | None = None, present_too: bool = False,
                 max_queue: int = 1000) -> None:
        import requests

        self.url, self.timeout_s, self.present_too = url, timeout_s, present_too
        self.session = requests.Session()
        self.session.headers.update({"Content-Type": "application/json", **(headers or {})})
        super().__init__("webhook", retries, backoff_s, max_backoff_s, max_queue)

    def present(self, camera: str, state: dict) -> None:
        if self.present_too:
            super().present(camera, state)

    def _deliver(self, kind: str, payload: dict) -> None:
        response = self.session.post(self.url, data=json.dumps(payload), timeout=self.timeout_s)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{self.url} answered {response.status_code}")

    def close(self, timeout_s: float = 5.0) -> None:
        super().close(timeout_s)
        self.session.close()


class MqttSink(_Queued):
    """Events published to `<prefix>/<camera>/<event>` (appeared, left, unknown_face), and
    who is here to `<prefix>/<camera>/present`, retained: a subscriber (Home Assistant)
    that connects later gets the current state at once. `<prefix>/status` is `online`
    while connected and `offline` (the broker's last will) when the watch stops or dies.

    host, port, username, password: the broker. qos: 0, 1 (at least once, default) or 2.
    The paho client reconnects by itself; events published while it is away wait in the
    queue (retried as the webhook's are).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, username: str | None = None,
                 password: str | None = None, prefix: str = TOPIC_PREFIX, qos: int = 1, client_id: str = "",
                 keepalive_s: int = 30, retries: int = 5, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 connect_timeout_s: float = 10.0, max_queue: int = 1000) -> None:
        import paho.mqtt.client as mqtt

        self.prefix, self.qos = prefix.rstrip("/"), qos
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.status_topic = f"{self.prefix}/status"
        self.client.will_set(self.status_topic, "offline", qos=1, retain=True)
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *args: self.connected.clear()
        self.client.reconnect_delay_set(min_delay=1, max_delay=int(max_backoff_s))
        self.client.connect_async(host, port, keepalive=keepalive_s)
        self.client.loop_start()
        if not self.connected.wait(connect_timeout_s):
            logger.warning("mqtt: no answer from %s:%d yet; events wait until it answers", host, port)
        super().__init__("mqtt", retries, backoff_s, max_backoff_s, max_queue)

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            logger.warning("mqtt: the broker refused the connection: %s", reason_code)
            return
        client.publish(self.status_topic, "online", qos=1, retain=True)
        self.connected.set()

    def _deliver(self, kind: str, payload: dict) -> None:
        if not self.connected.is_set():
            raise RuntimeError("not connected to the broker")
        topic = f"{self.prefix}/{payload['camera']}/{'present' if kind == 'present' else payload['event']}"
        info = self.client.publish(topic, json.dumps(payload), qos=self.qos, retain=kind == "present")
        info.wait_for_publish(timeout=5.0)
        if not info.is_published():
            raise RuntimeError(f"{topic}: not acknowledged by the broker")

    def close(self, timeout_s: float = 5.0) -> None:
        super().close(timeout_s)
        if self.connected.is_set():
            self.client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(timeout=2.0)
        self.client.disconnect()
        self.client.loop_stop()


def present_state(camera: str, names: list[str], unknown: int, t: float) -> dict:
    """The retained who-is-here message: names enrolled here now, unknown faces here now."""
    return {"camera": camera, "present": names, "count": len(names), "unknown": unknown, "time": round(t, 3),
            "updated": round(time.time(), 3)}
