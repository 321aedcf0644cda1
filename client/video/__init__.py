"""Faces in moving pictures: who is in each frame of a camera stream or a video file.

Each frame goes to the service's face-embed endpoint (detection and embeddings in one call);
a tracker (`tracking.py`, ByteTrack from the `trackers` package) follows the faces from frame
to frame, and each track's name is voted on from the gallery search or the reference photo
(`identities.py`), so a label stays put between look-ups and does not flicker.
`frames.py` runs one frame through all of it, `clip.py` decodes and writes video files
(PyAV), `timeline.py` sums a clip up as tracks with start and end times, `drawing.py` draws
the boxes and names (the project's face boxes, `client/drawing.py`), and `identify.py` does
a whole clip: `identify_clip(path, client, gallery, fps=10)` -> ClipReport.

Needs the `video` extra (numpy, Pillow, av, trackers); nothing here is imported by
`import client`, so the SDK works without it.
"""
