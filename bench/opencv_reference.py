"""OpenCV's own face pipeline on one verify(1 + N) request, in process: the yardstick that
`make bench` holds the served path against.

    .venv-bench/bin/python bench/opencv_reference.py PHOTO_DIR YUNET.onnx SFACE.onnx [--repeats 20]

PHOTO_DIR holds reference.jpg and test_1.jpg ... test_N.jpg. Per request, as OpenCV's samples
do it: decode every photo (cv2.imdecode), YuNet at the photo's own size, alignCrop + SFace
feature for the reference's largest face and every face of each test photo, cosine match.
Prints one JSON object (timings in seconds) on stdout.

Runs with OpenCV 4 (opencv-python-headless < 5 in the bench environment, `make bench-env`):
OpenCV 5's DNN engine cannot run the block-quantised int8 SFace file. Needs only cv2 and numpy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def verify(photos: list[bytes], detector, recognizer) -> list[float | None]:
    """Best cosine score of each test photo against the reference's largest face."""
    anchor, scores = None, []
    for index, data in enumerate(photos):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        detector.setInputSize((image.shape[1], image.shape[0]))
        _, faces = detector.detect(image)
        faces = [] if faces is None else sorted(faces, key=lambda f: f[2] * f[3], reverse=True)[:16]
        features = [recognizer.feature(recognizer.alignCrop(image, face)) for face in faces[: 1 if index == 0 else 16]]
        if index == 0:
            anchor = features[0] if features else None
            continue
        if anchor is None or not features:
            scores.append(None)
            continue
        scores.append(max(recognizer.match(anchor, f, cv2.FaceRecognizerSF_FR_COSINE) for f in features))
    return scores


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path)
    parser.add_argument("yunet", type=Path)
    parser.add_argument("sface", type=Path)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    tests = sorted(args.photos.glob("test_*.jpg"), key=lambda p: int(p.stem.split("_")[1]))
    photos = [(args.photos / "reference.jpg").read_bytes()] + [p.read_bytes() for p in tests]
    detector = cv2.FaceDetectorYN.create(str(args.yunet), "", (320, 320), 0.6, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(args.sface), "")
    crop = np.zeros((112, 112, 3), np.uint8)
    started = time.perf_counter()
    for _ in range(20):
        recognizer.feature(crop)
    per_crop = (time.perf_counter() - started) / 20
    seconds, scores = [], []
    for i in range(args.repeats + 2):
        started = time.perf_counter()
        scores = verify(photos, detector, recognizer)
        if i >= 2:  # warm-up
            seconds.append(time.perf_counter() - started)
    print(json.dumps({"opencv": cv2.__version__, "threads": cv2.getNumThreads(), "seconds": seconds,
                      "sface_per_crop_s": round(per_crop, 5), "scores": scores,
                      "models": [args.yunet.name, args.sface.name]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
