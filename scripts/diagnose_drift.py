"""How masklet-nano's masklets drift over a test family set: frame by frame, against the
truth and against where the object started.

    .venv/bin/python scripts/diagnose_drift.py FAMILIES_DIR [--model masklet-nano] [--checkpoint ...]

Each sequence is tracked as `masklet eval` tracks it (all objects prompted by their frame-0
masks). Per family and speed (the truth's centroid moving less or more than 2% of the
frame's width per frame, on average), at a few frames: the mean IoU with the truth, the
same for copying the frame-0 mask, and the mean IoU of the prediction with the frame-0
mask. A masklet that stays where the object started scores like the copy and keeps a high
last figure; one that follows the object scores above the copy. Last, the IoU of the
network's answer to a box drawn tight around the truth on that frame, without memory: what
its decoder makes of an object it is shown, a rough ceiling for re-segmenting it from memory.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from masklet.data.davis import first_masks, list_sequences, read_annotation
from masklet.eval.metrics import region_similarity
from masklet.eval.vos import vos_segmenters
from masklet.inference.boxes import masks_to_boxes
from masklet.inference.image_predictor import ImagePredictor

FAST = 0.02  # of the frame's width per frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--frames", default="1,2,4,8,15", help="the frames to report (comma-separated)")
    args = parser.parse_args()
    shown = [int(t) for t in args.frames.split(",")]
    predictor, segmenters = vos_segmenters(args.model, args.checkpoint)
    segment = next(iter(segmenters.values()))
    boxed = ImagePredictor(predictor.model)
    rows: dict[tuple[str, str], list[np.ndarray]] = {}  # (family, speed) -> per object (4, T)
    for family_dir in sorted(d for d in args.root.iterdir() if (d / "JPEGImages").is_dir()):
        for seq in list_sequences(family_dir):
            gt = [read_annotation(p) for p in sorted((family_dir / "Annotations" / seq).glob("*.png"))]
            prompts = {k: v for k, v in first_masks(gt).items() if v[0] == 0}
            pred = segment(family_dir / "JPEGImages" / seq, prompts)
            frames = sorted((family_dir / "JPEGImages" / seq).glob("*.jpg"))
            answers = {obj_id: np.full(len(gt), np.nan) for obj_id in prompts}
            for t in (t for t in shown if t < len(gt)):
                boxed.set_image(np.asarray(Image.open(frames[t]).convert("RGB")))
                for obj_id in prompts:
                    answers[obj_id][t] = box_answer_iou(boxed, gt[t] == obj_id)
            for obj_id, (_, first) in prompts.items():
                truth = [g == obj_id for g in gt]
                ious = np.array([
                    [region_similarity(p == obj_id, t) for p, t in zip(pred, truth)],
                    [region_similarity(first, t) for t in truth],
                    [region_similarity(p == obj_id, first) for p in pred],
                    answers[obj_id],
                ])
                speed = "fast" if _speed(truth) >= FAST else "slow"
                rows.setdefault((family_dir.name, speed), []).append(ious)
    cells = " | ".join(f"frame {t}" for t in shown)
    print(f"| family | speed | objects | IoU with the truth: {cells} | copying the frame-0 mask: {cells} | "
          f"IoU with the frame-0 mask: {cells} | a box around the truth, no memory: {cells} |")
    print("| --- | --- | --- |" + " --- |" * (4 * len(shown)))
    for (family, speed), objects in sorted(rows.items()):
        with warnings.catch_warnings():  # the frames not shown hold no box answers at all
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(objects, axis=0)  # (4, T); a box only where the object is on the frame
        cols = [f"{mean[k, t]:.2f}" for k in range(4) for t in shown if t < mean.shape[1]]
        print(f"| {family} | {speed} | {len(objects)} | " + " | ".join(cols) + " |")


def box_answer_iou(predictor: ImagePredictor, truth: np.ndarray) -> float:
    """IoU with `truth` of the single mask the network answers to the truth's bounding box (nan: no object)."""
    if not truth.any():
        return float("nan")
    box = masks_to_boxes(torch.from_numpy(truth)[None])[0].numpy()
    out = predictor.predict(box=box, multimask_output=False)
    return region_similarity(out.masks[0, 0].cpu().numpy(), truth)


def _speed(truth: list[np.ndarray]) -> float:
    """Mean centroid shift per frame over the frames the object is visible in, as a share of the width."""
    centres = [np.argwhere(t).mean(0) for t in truth if t.any()]
    if len(centres) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).mean() / truth[0].shape[1])


if __name__ == "__main__":
    sys.exit(main())
