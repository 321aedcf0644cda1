"""The People tab: the groups of faces that `people discover` found in a photo collection
(client/people, the state folder the CLI keeps), shown as face thumbnails, and the user's
corrections: name a group (it becomes a person in the page's gallery at once, as
`people name --gallery` does), merge two groups, split faces off a group, reject a face.

Thumbnails are cut from the user's own photos (the paths the state holds) each time they are
shown; no crop is written beside the state. Faces collected from video and cameras
(`--collect-unknown`) have no photo: their track's snapshot is shown if the watch kept one,
else a placeholder, and their unnamed groups read "Unknown person N". The state is read again
for every answer, so the CLI's changes show up on the next click, and changed and saved under
its lock (client/people/index.py's state_lock), so a watch collecting into it loses nothing."""
from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
from PIL import Image, ImageOps

from client import FaceClientError

THUMB = 112  # pixels: the embedder's aligned crop size
MARGIN = 0.25  # of the box's size, kept around the face so it can be recognised
Thumb = tuple[Image.Image, str]  # a gr.Gallery item: the picture and its caption


def face_thumbnail(photo: str | Path, box: list[float], size: int = THUMB) -> Image.Image:
    """The face `box` ([x, y, w, h] in the photo's pixels as the server saw it: EXIF rotation
    applied) cut from `photo` with a margin, fitted into size x size; a grey square where the
    photo cannot be read (moved, deleted)."""
    try:
        with Image.open(photo) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except OSError:
        return Image.new("RGB", (size, size), (128, 128, 128))
    x, y, w, h = box
    pad = MARGIN * max(w, h)
    crop = upright.crop((max(0, round(x - pad)), max(0, round(y - pad)),
                         min(upright.width, round(x + w + pad)), min(upright.height, round(y + h + pad))))
    crop.thumbnail((size, size), Image.Resampling.LANCZOS)
    return crop


def seen_thumbnail(snapshot: str | None, size: int = THUMB) -> Image.Image:
    """A face seen in video: its track's snapshot (already a crop of the face) fitted into size x
    size, or a placeholder: a dark square with a head's outline."""
    if snapshot:
        try:
            with Image.open(snapshot) as image:
                crop = image.convert("RGB")
            crop.thumbnail((size, size), Image.Resampling.LANCZOS)
            return crop
        except OSError:
            pass
    from PIL import ImageDraw

    placeholder = Image.new("RGB", (size, size), (72, 72, 80))
    draw = ImageDraw.Draw(placeholder)
    draw.ellipse((size * 0.32, size * 0.16, size * 0.68, size * 0.56), outline=(160, 160, 170), width=3)
    draw.arc((size * 0.16, size * 0.62, size * 0.84, size * 1.3), 180, 360, fill=(160, 160, 170), width=3)
    return placeholder


def thumbnail(face: dict) -> Image.Image:
    """A summary face's thumbnail: cut from its photo, or (seen in video) seen_thumbnail."""
    if face.get("source") is not None:
        return seen_thumbnail(face.get("snapshot"))
    return face_thumbnail(face["photo"], face["box"])


def face_ids(text: str) -> list[int]:
    """Face ids typed as "41 42" or "41, 42"."""
    return [int(word) for word in re.split(r"[\s,]+", (text or "").strip()) if word]


class PeopleTab:
    def __init__(self, state: str | Path, gallery) -> None:
        """state: the people state folder; gallery: where a named group is enrolled (the
        page's, client.gallery.Gallery), None for naming in the state only."""
        self.state, self.gallery = Path(state).expanduser(), gallery

    def index(self):
        """The saved state, read now (None before the first `people discover`)."""
        from client.people.index import STATE_FILE, PeopleIndex

        return PeopleIndex.load(self.state) if (self.state / STATE_FILE).exists() else None

    def read(self):
        from client.people.index import state_lock

        with state_lock(self.state, shared=True):
            return self.index()

    def view(self) -> tuple[list[Thumb], list[Thumb], list[Thumb], str]:
        """The groups (one thumbnail each: its first face), every grouped face, the unassigned
        faces, and a line of counts."""
        index = self.read()
        if index is None:
            return [], [], [], (f"No people state in `{self.state}` yet: run "
                                f"`python -m client people discover FOLDER --state {self.state}`.")
        found = index.summary()
        groups, faces = [], []
        for group in found["groups"]:
            count = len(group["faces"])
            first = group["faces"][0]
            groups.append((thumbnail(first),
                           f"group {group['id']} · {group['label'] or 'unnamed'} · {count} "
                           f"face{'' if count == 1 else 's'}"))
            faces += [(thumbnail(face), f"face {face['face']} · group {group['id']}") for face in group["faces"]]
        unassigned = [(thumbnail(face), f"face {face['face']} · {face['reason']}") for face in found["unassigned"]]
        seen = sum(face.source is not None for face in index.faces)
        line = (f"{len(found['groups'])} group{'' if len(found['groups']) == 1 else 's'}, {len(faces)} faces "
                f"grouped, {len(unassigned)} unassigned, from {len(index.photos)} photos"
                f"{f' and {seen} faces seen in video' if seen else ''} in `{self.state}`")
        return groups, faces, unassigned, line

    def change(self, edit) -> tuple:
        """Applies `edit(index) -> message` to the saved state and saves it; a refused edit
        (unknown group or face, the gallery refusing the name) changes nothing."""
        from client.people.index import STATE_FILE, PeopleError, state_lock

        if not (self.state / STATE_FILE).exists():
            return ("No people state yet.", *self.view())
        with state_lock(self.state):
            index = self.index()
            try:
                message = edit(index)
                index.save(self.state)
            except (PeopleError, FaceClientError, ValueError) as exc:
                message = f"**Not done:** {exc}"
        return (message, *self.view())

    def name(self, group: str, name: str) -> tuple:
        def edit(index) -> str:
            enrol = None
            if self.gallery is not None:
                from client.people.gallery_link import gallery_enrol

                enrol = gallery_enrol(self.gallery, index)
            index.name((group or "").strip(), name or "", enrol)
            where = f" and enrolled in the gallery {self.gallery.location}" if self.gallery is not None else ""
            return f"**{group.strip()}** is now {name.strip()}{where}."

        return self.change(edit)

    def merge(self, keep: str, other: str) -> tuple:
        def edit(index) -> str:
            index.merge((keep or "").strip(), (other or "").strip())
            return f"**{other.strip()}** merged into **{keep.strip()}**."

        return self.change(edit)

    def split(self, group: str, faces: str) -> tuple:
        def edit(index) -> str:
            new = index.split((group or "").strip(), face_ids(faces))
            return f"Faces {faces.strip()} of **{group.strip()}** are now group **{new}**."

        return self.change(edit)

    def reject(self, faces: str) -> tuple:
        def edit(index) -> str:
            ids = face_ids(faces)
            if not ids:
                raise ValueError("give the face ids to reject")
            moved = [f"face {face} → group {index.reject(face)}" for face in ids]
            return "Rejected: " + ", ".join(moved) + "."

        return self.change(edit)

    def build(self, page: gr.Blocks) -> None:
        summary = gr.Markdown(elem_id="people-summary")
        groups = gr.Gallery(label="Groups", columns=6, height="auto", allow_preview=False, elem_id="people-groups")
        with gr.Row():
            with gr.Column():
                gr.Markdown("#### Name a group (enrolled in the gallery at once)")
                with gr.Row():
                    name_group = gr.Textbox(label="Group", placeholder="g1", elem_id="people-name-group")
                    name = gr.Textbox(label="Name", elem_id="people-name")
                name_go = gr.Button("Name", variant="primary", elem_id="people-name-go")
            with gr.Column():
                gr.Markdown("#### Merge: B is the same person as A")
                with gr.Row():
                    keep = gr.Textbox(label="Group A (kept)", elem_id="people-merge-keep")
                    other = gr.Textbox(label="Group B", elem_id="people-merge-other")
                merge_go = gr.Button("Merge", elem_id="people-merge-go")
        with gr.Row():
            with gr.Column():
                gr.Markdown("#### Split: these faces of a group are another person")
                with gr.Row():
                    split_group = gr.Textbox(label="Group", elem_id="people-split-group")
                    split_faces = gr.Textbox(label="Faces", placeholder="41 42", elem_id="people-split-faces")
                split_go = gr.Button("Split", elem_id="people-split-go")
            with gr.Column():
                gr.Markdown("#### Reject: these faces are not the person of their group")
                reject_faces = gr.Textbox(label="Faces", placeholder="57", elem_id="people-reject-faces")
                reject_go = gr.Button("Reject", variant="stop", elem_id="people-reject-go")
        done = gr.Markdown(elem_id="people-done")
        faces = gr.Gallery(label="Faces by group", columns=8, height="auto", allow_preview=False,
                           elem_id="people-faces")
        unassigned = gr.Gallery(label="Unassigned faces (too small, unsure, or alone)", columns=8, height="auto",
                                allow_preview=False, elem_id="people-unassigned")
        shown = [groups, faces, unassigned, summary]
        page.load(self.view, outputs=shown, api_name=False)
        name_go.click(self.name, inputs=[name_group, name], outputs=[done, *shown], api_name="people_name")
        merge_go.click(self.merge, inputs=[keep, other], outputs=[done, *shown], api_name="people_merge")
        split_go.click(self.split, inputs=[split_group, split_faces], outputs=[done, *shown],
                       api_name="people_split")
        reject_go.click(self.reject, inputs=reject_faces, outputs=[done, *shown], api_name="people_reject")
