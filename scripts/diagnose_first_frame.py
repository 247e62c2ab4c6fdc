"""What masklet-nano sees on the first tracked frame of each object of a test family set.

    .venv/bin/python scripts/diagnose_first_frame.py FAMILIES_DIR [--model masklet-nano] [--checkpoint ...]

For each object, prompted by its frame-0 mask (add_new_mask, as `masklet eval`): the
predicted share of frame 1 against the truth's, the IoU on frame 1, the largest logit,
the object score; and the same frame answered from the frame-0 mask as a prompt with no
memory (is the decoder or the memory at fault?). Medians per family and size bucket.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from masklet.data.davis import first_masks, list_sequences, read_annotation
from masklet.eval.families import size_bucket
from masklet.eval.vos import _from_prompt_alone, vos_segmenters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    args = parser.parse_args()
    predictor, _ = vos_segmenters(args.model, args.checkpoint)
    rows = []
    for family_dir in sorted(d for d in args.root.iterdir() if (d / "JPEGImages").is_dir()):
        for name in list_sequences(family_dir):
            gt = [read_annotation(p) for p in sorted((family_dir / "Annotations" / name).glob("*.png"))[:2]]
            for obj_id, (t0, mask) in first_masks(gt).items():
                if t0 != 0:
                    continue
                truth = gt[1] == obj_id
                with predictor.start(family_dir / "JPEGImages" / name) as session, torch.inference_mode():
                    predictor.add_mask(session, 0, obj_id, mask)
                    results = predictor.propagate(session, start_frame_idx=0, max_frame_num_to_track=1)
                    frame0 = next(results)
                    frame1 = next(results)
                    logits = frame1.masks[0, 0]
                    score = float(session.objects[obj_id].non_cond_outputs[1].object_score_logits)
                    alone = _from_prompt_alone(predictor, session, 1, mask) > 0
                pred = (logits > 0).numpy()
                rows.append({
                    "family": family_dir.name, "size": size_bucket(float(mask.mean())), "truth": float(truth.mean()),
                    "pred": float(pred.mean()), "iou": iou(pred, truth), "iou0": iou(frame0.binary()[0], mask),
                    "max_logit": float(logits.max()), "score": score, "iou_alone": iou(alone.numpy(), truth),
                })
    print("| family | size | objects | truth % | predicted % | IoU frame 0 | IoU frame 1 | max logit | object score | IoU frame 1, prompt alone |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    groups = sorted({(r["family"], r["size"]) for r in rows})
    for family, size in groups:
        sel = [r for r in rows if (r["family"], r["size"]) == (family, size)]
        med = {k: statistics.median(r[k] for r in sel) for k in ("truth", "pred", "iou0", "iou", "max_logit", "score", "iou_alone")}
        print(f"| {family} | {size} | {len(sel)} | {100 * med['truth']:.1f} | {100 * med['pred']:.1f} | {med['iou0']:.2f} | "
              f"{med['iou']:.2f} | {med['max_logit']:.1f} | {med['score']:.1f} | {med['iou_alone']:.2f} |")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


if __name__ == "__main__":
    sys.exit(main())
