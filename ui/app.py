"""The page: a Verify tab, an Identify tab when the client has a gallery, a Live tab
(camera stream) when it has the video extra, and a People tab (the groups `people discover`
found) when it has the people extra."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from client import FaceClient
from ui.verify_tab import VerifyTab

TITLE = "Face verification"
STATIC = Path(__file__).parent / "static"
# Photos per page request: the client splits them into requests of the server's size.
MAX_TESTS = 128


def open_gallery(client: FaceClient, location: str | None, name: str | None = None):
    """The gallery of enrolled people: the service's gallery `name` (default `default`, shared
    with the CLI, video and curl), or `location` (a folder or URL) opened by the page; None
    where this client has no gallery package."""
    try:
        from client.gallery import Gallery
    except ImportError:
        return None
    return Gallery(location, client=client, name=None if location else name)


def live_tab(client: FaceClient, gallery):
    """The Live tab, or None where the client has no video extra (trackers, PyAV)."""
    try:
        import trackers  # noqa: F401  (the tracker is imported when a stream starts)

        from ui.live_tab import LiveTab
    except ImportError:
        return None
    return LiveTab(client, gallery)


def people_tab(state: str | Path | None, gallery):
    """The People tab on the state folder `state`, or None where the client has no people
    extra (numpy, scipy) or no state folder was given."""
    if state is None:
        return None
    try:
        import scipy  # noqa: F401  (the grouping's, imported when the state is read)

        from ui.people_tab import PeopleTab
    except ImportError:
        return None
    return PeopleTab(state, gallery)


def page_assets() -> dict:
    """The launch / mount arguments that style the page for small screens and give the Live
    tab its phone camera (rear by default, a switch, frames scaled to the detector's size)."""
    style, script = (STATIC / "phone.css").read_text(), (STATIC / "live_camera.js").read_text()
    return {"head": f"<style>{style}</style>\n<script>{script}</script>"}


def build_app(client: FaceClient, data_dir: Path | None = None, max_tests: int = MAX_TESTS,
              gallery: str | None = None, gallery_name: str | None = None,
              people_state: str | Path | None = None) -> gr.Blocks:
    workdir = Path(tempfile.mkdtemp(prefix="face-ui-"))  # answers and sample copies served back
    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(f"## {TITLE}\nIs the person of the reference photo in each test photo? "
                    f"Answered by the service at `{client.base_url}`.")
        with gr.Tab("Verify"):
            VerifyTab(client, data_dir, max_tests, workdir).build(page)
        people = open_gallery(client, gallery, gallery_name)
        if people is not None:
            from ui.identify_tab import IdentifyTab

            with gr.Tab("Identify"):
                IdentifyTab(people, max_tests).build(page)
        live = live_tab(client, people)
        if live is not None:
            with gr.Tab("Live"):
                live.build(page)
        groups = people_tab(people_state, people)
        if groups is not None:
            with gr.Tab("People"):
                groups.build(page)
    return page
