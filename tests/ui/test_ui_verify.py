"""The Verify tab's table, tally, JSON and contact sheet from a contract answer; the launch
guard. (The page against the real service: test_ui_gradio_client.py, test_ui_browser.py.)"""
from __future__ import annotations

import numpy as np
from PIL import Image

from client import VerificationResult
from client.contact_sheet import TILE, contact_sheet
from ui.__main__ import main as ui_main
from ui.verify import answer_json, table, tally

ANSWER = {
    "model": "face-verify:test", "threshold": 0.3,
    "reference": {"box": [10, 10, 40, 50], "confidence": 0.9},
    "results": [
        {"name": "test_1", "match": True, "score": 0.8, "box": [5, 5, 30, 30], "faces": 2,
         "detections": [{"box": [5, 5, 30, 30], "score": 0.8, "confidence": 0.9},
                        {"box": [60, 10, 20, 20], "score": 0.1, "confidence": 0.8}]},
        {"name": "test_2", "match": False, "score": 0.1, "box": [5, 5, 30, 30], "faces": 1,
         "detections": [{"box": [5, 5, 30, 30], "score": 0.1, "confidence": 0.9}]},
        {"name": "test_3", "match": False, "score": None, "box": None, "faces": 0, "detections": []},
        {"name": "test_4", "match": None, "score": None, "box": None, "faces": None,
         "error": {"code": "not_an_image", "message": "d.jpg: the file is not a photo"}},
    ],
}


def photos(tmp_path, count):
    paths = []
    for i in range(count + 1):
        path = tmp_path / f"p{i}.jpg"
        Image.fromarray(np.full((100, 100, 3), 200, np.uint8)).save(path)
        paths.append(path)
    return paths[0], paths[1:]


def test_table_and_tally():
    result = VerificationResult.model_validate(ANSWER)
    rows = table(result, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    assert [r[2] for r in rows] == ["MATCH", "no match", "no match", "error"]
    assert rows[0][3:5] == [0.8, 2] and rows[2][3:5] == ["", 0] and rows[3][5].startswith("not_an_image")
    # a.jpg and b.jpg marked as the person: a accepted, b not; c rejected; d in neither
    assert tally(result, {0, 1}) == "accepted 1 / 2 of the same person, rejected 1 / 1 others (1 photo not used)"


def test_answer_json_names_the_files():
    result = VerificationResult.model_validate(ANSWER)
    got = answer_json(result, "/tmp/x/ref.jpg", ["/tmp/1/a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    assert got["files"] == {"reference": "ref.jpg", "test_1": "a.jpg", "test_2": "b.jpg", "test_3": "c.jpg",
                            "test_4": "d.jpg"}
    assert got["results"][3]["error"]["code"] == "not_an_image"


def test_contact_sheet_draws_verdicts_and_errors(tmp_path):
    reference, tests = photos(tmp_path, 4)
    result = VerificationResult.model_validate(ANSWER)
    sheet = np.asarray(contact_sheet(reference, tests, result, marked_same={0}))
    assert sheet.shape[1] >= 5 * TILE
    colours = {tuple(c) for c in sheet.reshape(-1, 3)[::7]}
    assert (0x1a, 0x9c, 0x3a) in colours and (0xd6, 0x27, 0x28) in colours  # green match, red no match
    assert (0xfb, 0xea, 0xea) in colours  # the error tile


def test_listening_wider_needs_a_password(monkeypatch, capsys):
    monkeypatch.delenv("FACE_UI_PASSWORD", raising=False)
    assert ui_main(["--host", "0.0.0.0"]) == 2
    assert "FACE_UI_PASSWORD" in capsys.readouterr().err
