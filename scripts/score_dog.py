"""A scored check on real footage: the README's dog clip tracked from its click, against
boxes drawn around the dog by eye.

    .venv/bin/python scripts/score_dog.py [--checkpoint ...] [--model masklet-nano]

No model made these boxes (they were read off frames of `01_dog.mp4` with a pixel grid
drawn over them), so they judge any weights. The dog fills about half of its box, so a
perfect mask scores ~1.0 "on the dog's box" and ~0.5 "box covered". Per boxed frame after
the prompted one: the share of the mask inside the box (0 for an empty mask) and the share
of the box the mask covers; and the mask's share of the frame while the dog is out of the
picture (0 is right).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "01_dog.mp4"
CLICK = (600, 450)  # the README's first command: --point 600,450 on frame 0
# (x0, y0, x1, y1) in the clip's 1280x720 pixels, the leash left out; None: the dog is out of the picture.
BOXES: dict[int, tuple[int, int, int, int] | None] = {
    0: (445, 380, 700, 550), 24: (500, 320, 720, 530), 48: (760, 240, 990, 510), 96: None,
    120: (880, 380, 1200, 550), 144: (436, 390, 750, 550), 168: (370, 336, 610, 550), 192: (580, 360, 870, 550),
    216: (790, 390, 990, 540), 240: (600, 420, 920, 610), 264: (400, 390, 640, 600), 288: (490, 370, 705, 556),
}


def score(masks: dict[int, np.ndarray]) -> dict[str, float]:
    """Mean share of the mask on the dog's box, of the box covered, frames mostly on the box, and the mask while the dog is away."""
    on, covered, away = [], [], []
    for t, box in BOXES.items():
        if t == 0 or t not in masks:
            continue
        mask = masks[t]
        if box is None:
            away.append(float(mask.mean()))
            continue
        x0, y0, x1, y1 = box
        inside = float(mask[y0:y1, x0:x1].sum())
        on.append(inside / max(float(mask.sum()), 1.0))
        covered.append(inside / ((x1 - x0) * (y1 - y0)))
    return {"on_box": float(np.mean(on)), "covered": float(np.mean(covered)), "mostly_on": sum(p > 0.5 for p in on), "frames": len(on),
            "away": float(np.mean(away)) if away else float("nan")}


def track(model: str, checkpoint: str | None, clip: Path, last: int) -> dict[int, np.ndarray]:
    """The boxed frames' masks (H, W) of the dog tracked from the click, up to frame `last`."""
    import masklet

    predictor = masklet.build_sam2_video_predictor(model, checkpoint, device="cpu")
    masks = {}
    with torch.inference_mode():
        state = predictor.init_state(str(clip))
        predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[list(CLICK)], labels=[1])
        for t, _, logits in predictor.propagate_in_video(state, max_frame_num_to_track=last):
            if t in BOXES:
                masks[t] = (logits[0, 0] > 0).numpy()
    return masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--last", type=int, default=max(BOXES), help="track up to this frame")
    args = parser.parse_args()
    s = score(track(args.model, args.checkpoint, args.clip, args.last))
    print("| weights | on the dog's box | box covered | frames mostly on the dog | mask while the dog is away (% of frame) |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| {args.checkpoint or args.model} | {s['on_box']:.2f} | {s['covered']:.2f} | {s['mostly_on']} / {s['frames']} | "
          f"{100 * s['away']:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
