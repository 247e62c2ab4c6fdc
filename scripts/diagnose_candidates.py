"""Would another of the three tracking candidates have kept the masklet? On a test family folder.

While tracking, the decoder answers every frame with three candidate masks and keeps the
one of highest predicted IoU. This script tracks each sequence as `masklet eval` does (all
objects prompted by their frame-0 masks) with another rule for that choice:

- `predicted`: the network's own (highest predicted IoU), as shipped;
- `oracle`: the candidate closest to the truth (IoU), a ceiling on what any rule could buy;
- `motion`: SAMURAI's idea, (1 - w) x predicted IoU + w x the IoU of the candidate's box
  with the box a constant velocity predicts from the last two kept ones (w = --weight).

The kept mask goes on into the memory; the object pointer stays the one of the network's
own choice (the decoder makes it before any rule sees the masks), so `oracle` is a close
ceiling, not an exact one. Prints each family's mean J over the tracked frames beside
copying the frame-0 mask.

    .venv/bin/python scripts/diagnose_candidates.py FAMILIES_DIR [--checkpoint ...] [--rule oracle] [--weight 0.25]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from masklet.data.davis import first_masks, list_sequences, read_annotation
from masklet.eval.metrics import region_similarity
from masklet.eval.vos import vos_segmenters
from masklet.inference import boxes
from masklet.inference.video_predictor import VideoPredictor
from masklet.model.sam2 import Sam2


def box_iou(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """IoU of two x0, y0, x1, y1 boxes with inclusive ends (as masks_to_boxes gives them);
    0 when either is missing."""
    if a is None or b is None:
        return 0.0
    ends = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)  # inclusive -> exclusive ends
    a_, b_ = (torch.as_tensor(x, dtype=torch.float64)[None] + ends for x in (a, b))
    return float(boxes.box_iou(a_, b_)[0, 0])


class CandidateRule:
    """Instruments a predictor so that tracked frames keep the candidate `rule` picks."""

    def __init__(self, rule: str, weight: float) -> None:
        self.rule, self.weight = rule, weight
        self.truth: list[np.ndarray] = []  # the sequence's label maps, for the oracle
        self.frame, self.obj, self.tracking = 0, 0, False
        self.kept: dict[int, list[np.ndarray | None]] = {}  # object -> boxes of the masks it kept

    def install(self) -> None:
        answer, heads = VideoPredictor._answer, Sam2.forward_sam_heads

        def spy_answer(predictor, session, obj, frame_idx, **kw):
            self.frame, self.obj = frame_idx, obj.obj_id
            self.tracking = not kw.get("first_look") and kw.get("points") is None and kw.get("mask") is None
            return answer(predictor, session, obj, frame_idx, **kw)

        def choosing_heads(model, *args, **kw):
            out = heads(model, *args, **kw)
            if out.all_masks is not None and out.all_masks.shape[1] > 1 and self.tracking and self.rule != "predicted":
                best = self.choose(out.all_masks[0], out.iou_scores[0].float())
                out.low_res_masks, out._high_res = out.all_masks[:, best : best + 1], None
            self.kept.setdefault(self.obj, []).append(self.box(out.low_res_masks[0, 0] > 0))
            return out

        VideoPredictor._answer, Sam2.forward_sam_heads = spy_answer, choosing_heads

    @staticmethod
    def box(mask: torch.Tensor) -> np.ndarray | None:
        return boxes.masks_to_boxes(mask[None])[0].numpy().astype(float) if mask.any() else None

    def choose(self, candidates: torch.Tensor, predicted: torch.Tensor) -> int:
        """Index of the kept one of (M, h, w) candidate logits."""
        if self.rule == "oracle":
            truth = self.truth[self.frame] == self.obj
            up = F.interpolate(candidates[None].float(), size=truth.shape, mode="bilinear", align_corners=False)[0] > 0
            return int(np.argmax([region_similarity(m.numpy(), truth) for m in up]))
        seen = [b for b in self.kept.get(self.obj, []) if b is not None]
        guess = seen[-1] + (seen[-1] - seen[-2]) if len(seen) >= 2 else (seen[-1] if seen else None)
        motion = torch.tensor([box_iou(self.box(m > 0), guess) for m in candidates])
        return int(torch.argmax((1 - self.weight) * predicted + self.weight * motion))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--rule", choices=("predicted", "oracle", "motion"), default="oracle")
    parser.add_argument("--weight", type=float, default=0.25, help="the motion term's weight (SAMURAI's 0.25)")
    args = parser.parse_args()
    rule = CandidateRule(args.rule, args.weight)
    rule.install()
    _, segmenters = vos_segmenters(args.model, args.checkpoint)
    segment = next(iter(segmenters.values()))
    print(f"| family | objects | J, {args.rule} | J, copying the frame-0 mask |\n| --- | --- | --- | --- |")
    for family in sorted(d for d in args.root.iterdir() if (d / "JPEGImages").is_dir()):
        scores = []
        for seq in list_sequences(family):
            rule.truth = [read_annotation(p) for p in sorted((family / "Annotations" / seq).glob("*.png"))]
            rule.kept.clear()
            prompts = {k: v for k, v in first_masks(rule.truth).items() if v[0] == 0}
            pred = segment(family / "JPEGImages" / seq, prompts)
            for obj_id, (_, first) in prompts.items():
                truth = [t == obj_id for t in rule.truth[1:]]
                scores.append((np.mean([region_similarity(p == obj_id, t) for p, t in zip(pred[1:], truth)]),
                               np.mean([region_similarity(first, t) for t in truth])))
        mean = np.mean(scores, axis=0)
        print(f"| {family.name} | {len(scores)} | {mean[0]:.3f} | {mean[1]:.3f} |")


if __name__ == "__main__":
    main()
