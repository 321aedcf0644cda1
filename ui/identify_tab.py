"""The Identify tab: enrol people from photos into the gallery (by default the service's, which
the CLI and video use too), then find who is in a photo; each face boxed and labelled with its
name or "unknown"."""
from __future__ import annotations

import gradio as gr

from client import FaceClientError
from client.drawing import FaceKind, FaceMark, labelled_photo
from ui.verify import photo_label

PEOPLE_HEADERS = ["name", "photos", "model"]
FACE_HEADERS = ["face", "identity", "score", "candidates"]


class IdentifyTab:
    def __init__(self, gallery, max_photos: int) -> None:
        self.gallery, self.max_photos = gallery, max_photos

    def people(self) -> list[list]:
        try:
            return [[p.name, len(p.photos), p.model] for p in self.gallery.people()]
        except FaceClientError:  # the service's gallery while the service is down: the page still opens
            return []

    def enroll(self, name, files):
        photos = [str(f) for f in (files or [])]
        if not (name or "").strip() or not photos:
            return "Give a name and at least one photo.", self.people()
        if len(photos) > self.max_photos:
            return f"{len(photos)} photos: at most {self.max_photos} at a time.", self.people()
        try:
            done = self.gallery.enroll(name, photos)
        except FaceClientError as exc:
            return f"**Not enrolled:** {exc}", self.people()
        lines = [f"**{done.name}:** {len(done.enrolled)} photo{'' if len(done.enrolled) == 1 else 's'} enrolled"
                 + (f" (replacing {done.replaced})" if done.replaced else "")]
        lines += [f"- {photo_label(r.photo)} refused: {r.reason}" for r in done.refused]
        return "\n".join(lines), self.people()

    def remove(self, name):
        try:
            deleted = self.gallery.remove(name or "")
        except FaceClientError as exc:
            return f"**Not removed:** {exc}", self.people()
        message = f"**{name}** removed ({deleted} embeddings deleted)." if deleted else f"{name!r} is not enrolled."
        return message, self.people()

    def identify(self, photo):
        if not photo:
            return None, None, "Add a photo."
        try:
            found = self.gallery.identify(photo)
        except FaceClientError as exc:
            return None, None, f"**Not identified:** {exc}"
        marks = []
        rows = []
        for i, face in enumerate(found.faces, start=1):
            who = face.identity or "unknown"
            score = "" if face.score is None else f" {face.score:.2f}"
            kind = FaceKind.MATCH if face.identity is not None else FaceKind.NO_MATCH
            marks.append(FaceMark(face.box, kind, f"{i}. {who}{score}"))
            rows.append([i, who, "" if face.score is None else round(face.score, 3),
                         ", ".join(f"{c.name} {c.score:.2f}" for c in face.candidates)])
        summary = (f"{len(found.faces)} face{'' if len(found.faces) == 1 else 's'} "
                   f"(threshold {found.threshold:.3f}; model {found.model})")
        return labelled_photo(photo, marks), rows, summary

    def build(self, page: gr.Blocks) -> None:
        with gr.Row():
            with gr.Column():
                gr.Markdown("### Enrol a person")
                name = gr.Textbox(label="Name", elem_id="enroll-name")
                photos = gr.File(label=f"Their photos (one face each; up to {self.max_photos})",
                                 file_count="multiple", file_types=["image"], elem_id="enroll-photos")
                with gr.Row():
                    enroll = gr.Button("Enrol", variant="primary", elem_id="enroll")
                    remove = gr.Button("Remove this name", variant="stop", elem_id="remove")
                enrolled = gr.Markdown(elem_id="enrolled")
                people = gr.Dataframe(headers=PEOPLE_HEADERS, label="Enrolled", interactive=False,
                                      elem_id="people")
            with gr.Column():
                gr.Markdown("### Who is in this photo?")
                photo = gr.Image(label="Photo", type="filepath", image_mode=None,
                                 sources=["upload", "webcam", "clipboard"], height=260, elem_id="identify-photo")
                go = gr.Button("Identify", variant="primary", elem_id="identify")
                summary = gr.Markdown(elem_id="identify-summary")
                labelled = gr.Image(label="Faces", show_label=False, type="pil", format="jpeg",
                                    interactive=False, elem_id="identified")
                faces = gr.Dataframe(headers=FACE_HEADERS, label="Faces", interactive=False, elem_id="faces")
        page.load(self.people, outputs=people, api_name=False)
        enroll.click(self.enroll, inputs=[name, photos], outputs=[enrolled, people], api_name="enroll")
        remove.click(self.remove, inputs=name, outputs=[enrolled, people], api_name="remove")
        go.click(self.identify, inputs=photo, outputs=[labelled, faces, summary], api_name="identify")
