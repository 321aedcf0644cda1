"""The clip builder behind the video tests and `make bench-stream`: who is where when, the
Y4M file Chromium's fake camera reads, and the matching of a timeline to the truth."""
from __future__ import annotations

import pytest

from bench import clips


def test_the_packaged_clip_knows_who_is_in_each_frame():
    clip = clips.packaged_clip()
    assert clip.present(1.0) == [clips.ASTRONAUT]
    assert clip.present(3.0) == sorted([clips.ASTRONAUT, "cameraman"])
    assert clip.present(7.0) == ["cameraman"]
    first, later = clip.frame(1.0), clip.frame(1.5)
    assert first.shape == (480, 640, 3) and (first != later).any()  # she moves
    assert (clip.frame(7.0) != clip.frame(1.0)).any()


def test_the_camera_loop_ends_where_it_starts(tmp_path):
    clip = clips.camera_loop()
    assert (clip.frame(0.0) == clip.frame(clip.duration_s - 1e-9)).mean() > 0.95
    y4m = clips.write_y4m(clip, tmp_path / "camera.y4m")
    header = y4m.read_bytes()[:60].split(b"\n")[0]
    assert header.startswith(b"YUV4MPEG2 W640 H480 F15:1")
    frames = round(clip.duration_s * clip.fps)
    assert y4m.stat().st_size == len(header) + 1 + frames * (len(b"FRAME\n") + 640 * 480 * 3 // 2)


def track(number, identity, start, end, frames=10):
    return {"track": number, "identity": identity, "start_s": start, "end_s": end, "score": 0.9, "frames": frames}


def test_matched_tracks_pairs_each_appearance_with_its_closest_track():
    clip = clips.packaged_clip()  # astronaut 0-6 s, cameraman 2-8 s (25 fps)
    rows = clips.matched_tracks([track(1, clips.ASTRONAUT, 0.0, 5.9), track(2, "someone", 2.3, 7.96),
                                 track(3, None, 4.0, 4.1, frames=2), track(4, None, 1.0, 1.5)], clip)
    assert rows[0]["track"] == 1 and rows[0]["identity_ok"] and rows[0]["end_error_s"] == pytest.approx(0.06)
    assert rows[1]["track"] == 2 and not rows[1]["identity_ok"] and rows[1]["start_error_s"] == pytest.approx(0.3)
    assert rows[2:] == [{"extra": track(4, None, 1.0, 1.5)}]  # the 2-frame track is left out
