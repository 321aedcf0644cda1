"""Cameras watched for people: `face-verify watch SOURCE...` (client/cli/watch.py).

`sources.py` reads each camera (RTSP, HTTP MJPEG / HLS, a V4L2 device or a file, with PyAV)
and reconnects when a stream drops; each frame goes through the same service call, tracker
and quality rules as `video identify` and the Live tab (client/video/frames.py); `events.py`
turns the tracks into `appeared` / `left` / `unknown_face` events and who is here;
`sinks.py` sends them (JSON lines, a webhook, MQTT); `snapshots.py` keeps unknown faces'
crops when asked; `health.py` writes each camera's state; `lookup.py` searches the gallery
without keeping it from other processes; `watch.py` runs the cameras, one thread each.
Frames are held in memory only while they are identified. Usage: docs/cameras.md.

Needs the `cameras` extra (PyAV, trackers, paho-mqtt).
"""
