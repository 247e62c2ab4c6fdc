"""Datasets in the DAVIS layout, as evaluation and training read them.

ROOT/JPEGImages/<seq>/NNNNN.jpg and ROOT/Annotations/<seq>/NNNNN.png, the annotations
palette-indexed: 0 background, k the object with id k.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BadInput, NotFound


def read_annotation(path: Path) -> np.ndarray:
    """A palette-indexed PNG as an (H, W) array of object ids."""
    with Image.open(path) as img:
        if img.mode not in ("P", "L"):
            raise BadInput(f"{path} is not a palette-indexed PNG (mode {img.mode}): object ids must be palette indices")
        return np.asarray(img)


def list_sequences(root: Path) -> list[str]:
    images = root / "JPEGImages"
    if not images.is_dir() or not (root / "Annotations").is_dir():
        raise NotFound(f"{root} is not in the DAVIS layout: JPEGImages/<seq>/ and Annotations/<seq>/ are needed")
    return sorted(p.name for p in images.iterdir() if p.is_dir())


def first_masks(annotations: list[np.ndarray]) -> dict[int, tuple[int, np.ndarray]]:
    """Each object's first annotated frame and its mask there."""
    found: dict[int, tuple[int, np.ndarray]] = {}
    for t, ann in enumerate(annotations):
        for obj_id in np.unique(ann):
            if obj_id != 0 and int(obj_id) not in found:
                found[int(obj_id)] = (t, ann == obj_id)
    return found
