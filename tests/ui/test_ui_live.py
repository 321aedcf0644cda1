"""The Live tab's frame handler against the REAL server (no browser): reference mode names the
reference person `match` and the other `no match` once the votes agree; the figures and
the never-stored note are on the page; a missing reference is a clear error."""
from __future__ import annotations

import re

import gradio as gr
import pytest

pytest.importorskip("trackers")

from bench import clips  # noqa: E402
from client import FaceClient  # noqa: E402
from ui.live_tab import GALLERY, REFERENCE, LiveTab  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(torchserve_server):
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client:
        yield client


def test_reference_mode_labels_match_and_no_match(client, tmp_path):
    from PIL import Image

    clip = clips.camera_loop()
    reference = tmp_path / "reference.png"
    Image.fromarray(clip.people[0].enrol[0]).save(reference)
    tab = LiveTab(client, gallery=None)
    for i in range(6):
        page = tab.frame(clip.frame(i / 10), REFERENCE, str(reference))
    assert page.startswith("<img src='data:image/jpeg;base64,")
    names = sorted(re.findall(r"<li>#\d+ (match|no match) [\d.]+</li>", page))
    assert names == ["match", "no match"], page[-300:]
    assert "frames/s" in page and "ms p95" in page


def test_gallery_mode_without_a_gallery_and_reference_mode_without_a_photo(client):
    clip = clips.camera_loop()
    tab = LiveTab(client, gallery=None)
    with pytest.raises(gr.Error, match="No gallery"):
        tab.frame(clip.frame(0), GALLERY, None)
    with pytest.raises(gr.Error, match="reference photo"):
        tab.frame(clip.frame(0), REFERENCE, None)


def test_a_frame_that_comes_while_the_last_is_being_answered_is_dropped():
    from types import SimpleNamespace

    tab, browser = LiveTab(client=None, gallery=None), SimpleNamespace(session_hash="one")
    live = tab.session(browser)
    with live.busy:  # a frame of this browser is being answered
        skipped = tab.frame(clips.camera_loop().frame(0), GALLERY, None, browser)
    assert skipped == gr.skip() and live.dropped == 1
    assert tab.session(SimpleNamespace(session_hash="two")) is not live
