"""Faces in moving pictures: who is in each frame of a camera stream or a video file.

Each frame goes to the service's face-embed endpoint for its faces' boxes, and the faces
whose tracks need a look-up are embedded (`embedding.py`); a tracker (`tracking.py`, ByteTrack
from the `trackers` package) follows the faces from frame to frame, splits a track whose
face stops matching its person and is ended with every other track by a scene cut
(`scene.py`); each track's name is voted on from the gallery search or the reference photo
(`identities.py`), the votes weighted by face size and score, so a label stays put between
look-ups and does not flicker; faces too small or blurred stay unnamed (`quality.py`).
`frames.py` runs one frame through all of it, `clip.py` decodes and writes video files
(PyAV), `timeline.py` sums a clip up as one segment per (track, identity), `drawing.py` draws
the boxes and names (the project's face boxes, `client/drawing.py`), and `identify.py` does
a whole clip: `identify_clip(path, client, gallery, fps=10)` -> ClipReport. Cameras watched
for days are client/cameras/'s.

Needs the `video` extra (numpy, Pillow, av, trackers); nothing here is imported by
`import client`, so the SDK works without it.
"""
