"""How masklet-nano's masklets drift over a test family set: frame by frame, against the
truth and against where the object started.

    .venv/bin/python scripts/diagnose_drift.py FAMILIES_DIR [--model masklet-nano] [--checkpoint ...]

Each sequence is tracked as `masklet eval` tracks it (all objects prompted by their frame-0
masks). Per family and speed (the truth's centroid moving less or more than 2% of the
frame's width per frame, on average), at a few frames: the mean IoU with the truth, the
same for copying the frame-0 mask, and the mean IoU of the prediction with the frame-0
mask. A masklet that stays where the object started scores like the copy and keeps a high
last figure; one that follows the object scores above the copy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from masklet.data.davis import first_masks, list_sequences, read_annotation
from masklet.eval.metrics import region_similarity
from masklet.eval.vos import vos_segmenters

FAST = 0.02  # of the frame's width per frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--frames", default="1,2,4,8,15", help="the frames to report (comma-separated)")
    args = parser.parse_args()
    shown = [int(t) for t in args.frames.split(",")]
    _, segmenters = vos_segmenters(args.model, args.checkpoint)
    segment = next(iter(segmenters.values()))
    rows: dict[tuple[str, str], list[np.ndarray]] = {}  # (family, speed) -> per object (3, T)
    for family_dir in sorted(d for d in args.root.iterdir() if (d / "JPEGImages").is_dir()):
        for seq in list_sequences(family_dir):
            gt = [read_annotation(p) for p in sorted((family_dir / "Annotations" / seq).glob("*.png"))]
            prompts = {k: v for k, v in first_masks(gt).items() if v[0] == 0}
            pred = segment(family_dir / "JPEGImages" / seq, prompts)
            for obj_id, (_, first) in prompts.items():
                truth = [g == obj_id for g in gt]
                ious = np.array([
                    [region_similarity(p == obj_id, t) for p, t in zip(pred, truth)],
                    [region_similarity(first, t) for t in truth],
                    [region_similarity(p == obj_id, first) for p in pred],
                ])
                speed = "fast" if _speed(truth) >= FAST else "slow"
                rows.setdefault((family_dir.name, speed), []).append(ious)
    cells = " | ".join(f"frame {t}" for t in shown)
    print(f"| family | speed | objects | IoU with the truth: {cells} | copying the frame-0 mask: {cells} | "
          f"IoU with the frame-0 mask: {cells} |")
    print("| --- | --- | --- |" + " --- |" * (3 * len(shown)))
    for (family, speed), objects in sorted(rows.items()):
        mean = np.mean(objects, axis=0)  # (3, T)
        cols = [f"{mean[k, t]:.2f}" for k in range(3) for t in shown if t < mean.shape[1]]
        print(f"| {family} | {speed} | {len(objects)} | " + " | ".join(cols) + " |")


def _speed(truth: list[np.ndarray]) -> float:
    """Mean centroid shift per frame over the frames the object is visible in, as a share of the width."""
    centres = [np.argwhere(t).mean(0) for t in truth if t.any()]
    if len(centres) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).mean() / truth[0].shape[1])


if __name__ == "__main__":
    sys.exit(main())
