"""The client as a user gets it: `pip install ./client` into a fresh virtualenv without torch,
then the `face-verify` command against the REAL server (tests/conftest.py's TorchServe):
a folder of 40 photos with a 49 MP photo and a text file renamed .jpg, and `calibrate`
on person folders built from scikit-image's photos."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

pytestmark = pytest.mark.integration

skimage_data = pytest.importorskip("skimage.data")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding only the client and its dependencies (from PyPI)."""
    venv = tmp_path_factory.mktemp("client-venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    reach = subprocess.run(pip + ["download", "-q", "--no-deps", "-d", str(venv / "dl"), "hatchling"],
                           capture_output=True, text=True)
    if reach.returncode != 0:
        pytest.skip(f"PyPI is not reachable to install the client's dependencies: {reach.stderr[-300:]}")
    done = subprocess.run(pip + ["install", "-q", str(REPO / "client")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin"


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "face-verify"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})


def test_only_the_client_and_its_dependencies_are_installed(installed, tmp_path):
    probe = ("import importlib.util as u, face_verify_client as c; "
             "print(u.find_spec('torch') is None, u.find_spec('client') is None, c.FaceClient.__name__)")
    out = subprocess.run([str(installed / "python"), "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "True", "FaceClient"]
    assert "calibrate" in run(installed, "--help", cwd=tmp_path).stdout


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(reference, folder of 40, {file name: expected error code})."""
    root = tmp_path_factory.mktemp("mixed")
    astronaut = Image.fromarray(skimage_data.astronaut())
    others = [Image.fromarray(skimage_data.chelsea()), Image.fromarray(skimage_data.camera()).convert("RGB")]
    reference = root / "me.jpg"
    astronaut.save(reference, quality=92)
    folder = root / "photos"
    folder.mkdir()
    for i in range(38):
        photo = ImageOps.mirror(astronaut) if i % 3 == 0 else others[i % 2]
        photo.save(folder / f"photo_{i:02d}.jpg", quality=85)
    Image.new("RGB", (7000, 7000), (120, 130, 140)).save(folder / "photo_38_49mp.jpg", quality=50)
    (folder / "photo_39_notes.jpg").write_text("a shopping list, not a photo\n")
    return reference, folder, {"photo_38_49mp.jpg": "image_too_large", "photo_39_notes.jpg": "not_an_image"}


def test_a_folder_of_40_with_a_49mp_photo_and_a_text_file(installed, torchserve_server, mixed_folder, tmp_path):
    reference, folder, bad = mixed_folder
    out = tmp_path / "answer.json"
    done = run(installed, "verify", str(reference), str(folder), "--url", torchserve_server.base_url,
               "--token", torchserve_server.token, "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(out.read_text())
    files = sorted(p.name for p in folder.iterdir())
    assert [Path(answer["files"][r["name"]]).name for r in answer["results"]] == files
    assert len(answer["results"]) == 40
    for result, name in zip(answer["results"], files, strict=False):
        if name in bad:
            assert result["error"]["code"] == bad[name] and result["match"] is None
            assert result["error"]["message"].startswith(str(folder / name))
            assert str(folder / name) in done.stdout
        else:
            assert result["error"] is None and isinstance(result["match"], bool)
            assert result["match"] is (name.endswith(("_00.jpg", "_03.jpg")) or int(name[6:8]) % 3 == 0)
    assert "matched 13 of 40" in done.stdout and "2 could not be used" in done.stdout


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    """Two people, six photos each: the photo, mirrored, rotated, rescaled, darker, cropped."""
    root = tmp_path_factory.mktemp("people")
    for person, array in (("astronaut", skimage_data.astronaut()), ("cameraman", skimage_data.camera())):
        photo = Image.fromarray(array).convert("RGB")
        width, height = photo.size
        variants = [photo, ImageOps.mirror(photo), photo.rotate(8, fillcolor=(90, 90, 90)),
                    photo.resize((int(width * 0.7), int(height * 0.7))),
                    Image.fromarray((np.asarray(photo) * 0.7).astype(np.uint8)),
                    photo.crop((20, 0, width, height - 30))]
        (root / person).mkdir()
        for i, variant in enumerate(variants):
            variant.save(root / person / f"{i}.jpg", quality=90)
    return root


def test_calibrate_recommends_saves_and_the_client_uses_it(installed, torchserve_server, people, tmp_path):
    auth = ["--url", torchserve_server.base_url, "--token", torchserve_server.token]
    done = run(installed, "calibrate", str(people), "--far", "0.001", "--save", *auth, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "30 same-person pairs, 36 different-person pairs" in done.stdout
    assert "false-match rate" in done.stdout and "<- the server's threshold" in done.stdout
    chosen = float(re.search(r"recommended threshold: (-?[0-9.]+)", done.stdout).group(1))
    saved = json.loads((tmp_path / "face-verify-threshold.json").read_text())
    assert saved["threshold"] == chosen and saved["far"]["hits"] == 0 and saved["far"]["pairs"] == 36
    assert saved["model"].startswith("face-verify") and saved["tar"]["pairs"] == 30
    # the verify run from the same folder uses it, and says so
    astronaut, cameraman = people / "astronaut", people / "cameraman"
    verified = run(installed, "verify", str(astronaut / "0.jpg"), str(astronaut / "1.jpg"), str(cameraman / "0.jpg"),
                   "--json", "-", *auth, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    answer = json.loads(verified.stdout)
    assert answer["threshold"] == chosen
    assert answer["results"][1]["score"] < chosen  # the other person stays below it
