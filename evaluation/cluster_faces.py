"""The faces `make cluster-eval` groups: every photo of the calibration people (what grouping's
parameters are chosen on) and of the never-trained-on people (LFW peopleDevTest and the
held-out CelebA identities: what it is measured on), each reduced to its labelled face as the
face cache does (the most central for LFW, the largest for CelebA) and embedded with the served
weights as the server embeds (flip fusion as the weights say).

The embeddings are cached under `cache_dir` in chunks of CHUNK photos, so an interrupted run
goes on where it stopped. Which photo is in which split comes from `data.face_cache.plan_jobs`
with params.yaml's `data:` section, the same plan as training's.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK = 256  # photos per cached file: what an interruption loses at most
CALIBRATION_SPLITS = ("calibration", "celeba_calibration")  # the serving threshold's people
MEASURED_SPLITS = ("devtest", "celeba_test")  # never trained on, never used to choose a parameter


@dataclass
class FaceSet:
    """One embedded face per photo: its identity, photo file, split, and what the detector said
    (`detected` False: no face found, the centre crop was embedded)."""

    embeddings: np.ndarray  # N x D float32, unit rows
    identities: np.ndarray  # N str
    files: np.ndarray  # N str, relative to the data folder
    splits: np.ndarray  # N str
    confidence: np.ndarray  # N float, 0 where no face was found
    face_size: np.ndarray  # N float: the shorter side of the face box, pixels (0: none found)

    def subset(self, mask: np.ndarray) -> FaceSet:
        return FaceSet(*(getattr(self, name)[mask] for name in self.__dataclass_fields__))

    def of_splits(self, splits: tuple[str, ...]) -> FaceSet:
        return self.subset(np.isin(self.splits, splits))


def planned_photos(data_dir: Path, splits: tuple[str, ...]) -> list:
    """The face cache's jobs (source, original, identity, split) of `splits`, in plan order."""
    from data.face_cache import plan_jobs
    from training.params import load_params

    params = load_params("data", False)
    jobs, _ = plan_jobs(data_dir, None, params["calibration"], params["celeba_holdout"])
    return [job for job in jobs if job.split in splits]


def embed_chunk(jobs: list, data_dir: Path, pipeline, embedder) -> dict[str, np.ndarray]:
    from model.image_io import ImageError, read_image

    crops, confidence, size, kept = [], [], [], []
    for job in jobs:
        try:
            image = read_image(str(data_dir / job.original))
        except (ImageError, FileNotFoundError):
            continue  # an unreadable photo has no face to group
        crop, face = pipeline.labelled_face(image, "central" if job.source == "lfw" else "largest")
        crops.append(crop)
        confidence.append(0.0 if face is None else face.confidence)
        size.append(0.0 if face is None else min(face.box[2], face.box[3]))
        kept.append(job)
    return {"embeddings": embedder.embed(crops).astype(np.float32),
            "identities": np.array([job.identity for job in kept]), "files": np.array([job.original for job in kept]),
            "splits": np.array([job.split for job in kept]), "confidence": np.array(confidence, dtype=np.float32),
            "face_size": np.array(size, dtype=np.float32)}


def load_faces(data_dir: str | Path, cache_dir: str | Path, weights: str | Path = "weights/face_embedder.pt",
               splits: tuple[str, ...] = CALIBRATION_SPLITS + MEASURED_SPLITS, log=print) -> FaceSet:
    """Every planned photo of `splits`, embedded (cached chunks reused when they were made by
    the same weights version for the same photos)."""
    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    jobs = planned_photos(data_dir, splits)
    cache_dir.mkdir(parents=True, exist_ok=True)
    pipeline = embedder = version = None
    parts = []
    started = time.time()
    for number, start in enumerate(range(0, len(jobs), CHUNK)):
        chunk = jobs[start:start + CHUNK]
        path = cache_dir / f"chunk_{number:04d}.npz"
        key = json.dumps([job.original for job in chunk])
        if embedder is None:
            embedder, version = served_embedder(weights)
        if path.exists():
            stored = np.load(path)
            if str(stored["key"]) == key and str(stored["version"]) == version:
                parts.append({name: stored[name] for name in FaceSet.__dataclass_fields__})
                continue
        if pipeline is None:
            from model.pipeline import FacePipeline

            pipeline = FacePipeline()
        part = embed_chunk(chunk, data_dir, pipeline, embedder)
        np.savez(path.with_suffix(".tmp.npz"), key=key, version=version, **part)
        path.with_suffix(".tmp.npz").replace(path)
        parts.append(part)
        log(f"embedded {min(start + CHUNK, len(jobs))}/{len(jobs)} photos ({time.time() - started:.0f} s)")
    return FaceSet(*(np.concatenate([part[name] for part in parts]) for name in FaceSet.__dataclass_fields__))


def served_embedder(weights: str | Path):
    """The served weights' embedder (flip fusion as they say) and their version."""
    import torch

    from model.embedder import FaceEmbedder, ModelFacts, load_backbone

    torch.set_num_threads(2)
    backbone, meta = load_backbone(weights)
    facts = ModelFacts.of(meta, backbone.state_dict())
    return FaceEmbedder(backbone, flip=facts.flip), facts.version


def served_far_table(weights: str | Path = "weights/face_embedder.pt") -> tuple[float, list[dict]]:
    """The served threshold and FAR table ([{"far", "threshold"}]) the weights carry: what the
    server sends with every face-embed answer."""
    from model.embedder import ModelFacts, load_backbone

    backbone, meta = load_backbone(weights)
    facts = ModelFacts.of(meta, backbone.state_dict())
    return facts.threshold, list(facts.far_thresholds or [])


def main() -> None:
    import argparse

    from training.params import load_params

    parser = argparse.ArgumentParser(description="embed the faces cluster-eval groups (cached, resumable)")
    parser.add_argument("--data-dir", default=load_params("data", False)["data_dir"])
    parser.add_argument("--cache-dir", default="cache/clusters")
    args = parser.parse_args()
    faces = load_faces(args.data_dir, args.cache_dir)
    print(f"{len(faces.identities)} faces of {len(set(faces.identities.tolist()))} people")


if __name__ == "__main__":
    main()
