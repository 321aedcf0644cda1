"""The Verify tab: a reference and test photos in, the contact sheet, the table, the tally
against the user's marks and the JSON answer out."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from client import FaceClient, FaceClientError
from client.contact_sheet import contact_sheet
from ui import samples
from ui.verify import TABLE_HEADERS, answer_json, photo_label, table, tally, verify

THRESHOLD_STEP = 0.001


def served_threshold(client: FaceClient) -> float:
    """The threshold the service applies by default, from the echo of a small request
    (scikit-image's astronaut against herself)."""
    from skimage import data

    astronaut = data.astronaut()
    return client.verify(astronaut, [astronaut]).threshold


def _mark_choices(tests: list[str]) -> list[tuple[str, int]]:
    return [(f"{i}. {photo_label(path)}", i - 1) for i, path in enumerate(tests, start=1)]


def _paths(files) -> list[str]:
    """gr.File(file_count="multiple") hands over paths (or nothing)."""
    return [str(f) for f in (files or [])]


class VerifyTab:
    """Builds the tab's components inside the current gr.Blocks and wires their events."""

    def __init__(self, client: FaceClient, data_dir: Path | None, max_tests: int, workdir: Path) -> None:
        self.client, self.data_dir, self.max_tests, self.workdir = client, data_dir, max_tests, workdir

    # ------------------------------------------------------------------ events

    def load_threshold(self):
        try:
            value = served_threshold(self.client)
        except FaceClientError as exc:
            return gr.update(), None, f"**The service did not answer:** {exc}"
        return gr.update(value=round(value, 3)), value, f"Served threshold: {value:.3f}"

    def on_tests(self, files):
        return gr.update(choices=_mark_choices(_paths(files)), value=[])

    def add_webcam(self, shot, files):
        tests = _paths(files)
        if shot:
            tests.append(str(shot))
        return tests, None, gr.update(choices=_mark_choices(tests), value=[])

    def load_sample(self, seed):
        if self.data_dir is None or not samples.available(self.data_dir):
            raise gr.Error(f"no LFW data at {self.data_dir}")
        sample = samples.load(self.data_dir, int(seed or 0))
        folder = Path(tempfile.mkdtemp(prefix="sample-", dir=self.workdir))
        reference = shutil.copy(sample.reference, folder)  # only these photos become servable
        tests = []
        for i, path in enumerate(sample.tests, start=1):
            own = folder / f"{i:02d}"
            own.mkdir()
            tests.append(shutil.copy(path, own))
        same = sample.same_indices
        note = (f"Sample set (seed {int(seed or 0)}): the reference is {sample.reference_person}; "
                f"{len(same)} tests show them (ticked below), {len(tests) - len(same)} show others.")
        return reference, tests, gr.update(choices=_mark_choices(tests), value=same), note

    def run(self, reference, files, threshold, served, marks):
        tests = _paths(files)
        if not reference:
            return self._failed("Add a reference photo (one person).")
        if not tests:
            return self._failed("Add at least one test photo.")
        if len(tests) > self.max_tests:
            return self._failed(f"{len(tests)} test photos: this page takes at most {self.max_tests}.")
        # At the served value send none: the service applies its own, unrounded threshold.
        use = None if served is not None and abs(threshold - served) <= THRESHOLD_STEP / 2 else threshold
        started = time.perf_counter()
        try:
            result = verify(self.client, reference, tests, use)
        except FaceClientError as exc:
            return self._failed(f"**The service refused the request:** {exc}")
        seconds = time.perf_counter() - started
        labels = [photo_label(p) for p in tests]
        answer = Path(tempfile.mkdtemp(prefix="answer-", dir=self.workdir)) / "verification.json"
        answer.write_text(json.dumps(answer_json(result, reference, tests), indent=2) + "\n")
        state = {"result": result, "reference": str(reference), "tests": tests, "seconds": seconds}
        sheet, summary = self._render(state, marks)
        return sheet, table(result, labels), summary, str(answer), state

    def remark(self, state, marks):
        if not state:
            return gr.update(), gr.update()
        return self._render(state, marks)

    # ------------------------------------------------------------------ helpers

    def _render(self, state, marks):
        result, tests = state["result"], state["tests"]
        marked = set(marks or [])
        sheet = contact_sheet(state["reference"], tests, result, [photo_label(p) for p in tests],
                              marked if marks else None)
        counts = (f"{len(result.matches)} match, {len(result.non_matches)} no match"
                  + (f", {len(result.errors)} error" if result.errors else ""))
        lines = [f"**{len(tests)} test photos:** {counts} (threshold {result.threshold:.3f}; "
                 f"answered in {state['seconds']:.2f} s)"]
        lines.append(f"**{tally(result, marked)}**" if marks else
                     "Tick the tests that show the reference person to count accepted / rejected.")
        return sheet, "\n\n".join(lines)

    @staticmethod
    def _failed(message: str):
        return None, None, message, None, None

    # ------------------------------------------------------------------ layout

    def build(self, page: gr.Blocks) -> None:
        served = gr.State(None)
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                reference = gr.Image(label="Reference photo (its largest face is the person)", type="filepath",
                                     image_mode=None, sources=["upload", "webcam", "clipboard"],
                                     height=240, elem_id="reference")
            with gr.Column(scale=2):
                tests = gr.File(label=f"Test photos (up to {self.max_tests})", file_count="multiple",
                                file_types=["image"], height=240, elem_id="tests")
                with gr.Accordion("Take a test photo with the webcam", open=False):
                    webcam = gr.Image(label="Webcam", type="filepath", image_mode=None, sources=["webcam"],
                                      height=200, elem_id="webcam")
                    add = gr.Button("Add it to the test photos", size="sm")
        with gr.Row(equal_height=True):
            threshold = gr.Slider(-1.0, 1.0, value=0.0, step=THRESHOLD_STEP, elem_id="threshold", scale=3,
                                  label="Threshold (starts at the served, calibrated value; higher: stricter)")
            seed = sample = None
            if self.data_dir is not None and samples.available(self.data_dir):
                seed = gr.Number(value=0, precision=0, label="Sample seed", scale=0, min_width=110)
                sample = gr.Button("Load a sample LFW set (1 + 15)", elem_id="sample", scale=1)
            go = gr.Button("Verify", variant="primary", elem_id="verify", scale=1)
        marks = gr.CheckboxGroup(choices=[], label="Tests that show the reference person (for the tally)",
                                 elem_id="marks")
        summary = gr.Markdown(elem_id="summary")
        sheet = gr.Image(label="Contact sheet", show_label=False, type="pil", format="jpeg", interactive=False,
                         elem_id="sheet")
        rows = gr.Dataframe(headers=TABLE_HEADERS, label="Verdicts", interactive=False, wrap=True,
                            column_widths=["5%", "25%", "10%", "10%", "8%", "42%"], max_height=2000,
                            elem_id="table")  # tall enough that every row is rendered
        download = gr.File(label="The JSON answer", interactive=False, elem_id="answer")

        page.load(self.load_threshold, outputs=[threshold, served, summary], api_name=False)
        for event in (tests.upload, tests.clear, tests.delete):
            event(self.on_tests, inputs=tests, outputs=marks, api_name=False)
        add.click(self.add_webcam, inputs=[webcam, tests], outputs=[tests, webcam, marks], api_name=False)
        if sample is not None:
            sample.click(self.load_sample, inputs=seed, outputs=[reference, tests, marks, summary],
                         api_name="sample")
        # The old verdicts go first, so a new answer is never mistaken for the previous one.
        go.click(lambda: self._failed("Verifying ..."), outputs=[sheet, rows, summary, download, state],
                 api_name=False, queue=False).then(
            self.run, inputs=[reference, tests, threshold, served, marks],
            outputs=[sheet, rows, summary, download, state], api_name="verify")
        marks.input(self.remark, inputs=[state, marks], outputs=[sheet, summary], api_name=False)
