"""Write sample photos for trying the service (no dataset needed): scikit-image's bundled
astronaut (Eileen Collins), cameraman and cat.

    python scripts/example_photos.py [OUT_DIR]   # default .serve/examples

reference.jpg  the astronaut (one face)
group.jpg      the astronaut again, smaller and shifted, next to the cameraman (two faces)
other.jpg      the cameraman only (a different person)
cat.jpg        a cat (no human face)
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data


def photos() -> dict[str, np.ndarray]:
    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    group = np.full((600, 1100, 3), (90, 120, 140), dtype=np.uint8)
    small = cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA)
    group[150:534, 40:424] = small
    group[44:556, 520:1032] = cameraman
    return {
        "reference.jpg": astronaut,
        "group.jpg": group,
        "other.jpg": cameraman,
        "cat.jpg": np.ascontiguousarray(data.chelsea()[:, :, ::-1]),
    }


def main(out: str = ".serve/examples") -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    images = photos()
    for name, image in images.items():
        cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"wrote {', '.join(images)} to {folder}/")


if __name__ == "__main__":
    main(*sys.argv[1:2])
