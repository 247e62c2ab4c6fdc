"""Frame 1 on a `masklet generate` folder, split by what each object is: a photo cut-out or a texture.

The generator is a pure function of the seed, so each object's kind is found by generating
its sequence again with a spy on the sources it cuts from. For every object visible on
frame 0: the IoU on frame 1 when tracked from its frame-0 mask (memory), and when clicked
once on frame 1 at the truth's deepest pixel, as the click protocol puts a first click (no memory).

    .venv/bin/python scripts/diagnose_by_kind.py DATASET [--model masklet-nano] [--checkpoint ...] [-n 40] [--wide]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from masklet.data import generator
from masklet.data.davis import first_masks, list_sequences, read_annotation
from masklet.eval.interactive import region_centre
from masklet.eval.vos import vos_segmenters


def object_kinds(name: str, wide: bool) -> list[str]:
    """"cutout" or "texture" for objects 1, 2, ... of a generated sequence named SPLIT_SEED."""
    split, seed = name.rsplit("_", 1)
    kinds: list[str] = []

    class Spy:  # a source photo that notes when an object is cut from it
        def __init__(self, image) -> None:
            self.image, self.width, self.height = image, image.width, image.height

        def crop(self, box):
            kinds[-1] = "cutout"
            return self.image.crop(box)

    original = generator._appearance

    def spying(rng, sources, size):
        kinds.append("texture")
        return original(rng, [Spy(s) for s in sources], size)

    generator._appearance = spying
    try:
        cfg = replace(generator.WIDE if wide else generator.GeneratorConfig(), num_frames=1)
        generator.generate_sequence(int(seed), generator.background_sources(generator.BACKGROUNDS, split), cfg)
    finally:
        generator._appearance = original
    return kinds  # distractors reuse an object's appearance, so these are the objects'


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("-n", type=int, default=40, help="first N sequences")
    parser.add_argument("--wide", action="store_true", help="the folder was written with masklet generate --wide")
    args = parser.parse_args()
    predictor, _ = vos_segmenters(args.model, args.checkpoint)
    rows: dict[str, list[tuple[float, float]]] = {"cutout": [], "texture": []}
    for name in list_sequences(args.root)[: args.n]:
        kinds = object_kinds(name, args.wide)
        gt = [read_annotation(p) for p in sorted((args.root / "Annotations" / name).glob("*.png"))[:2]]
        for obj_id, (_, mask) in first_masks(gt[:1]).items():
            truth = gt[1] == obj_id
            if truth.sum() < 20:  # (almost) hidden on frame 1
                continue
            with predictor.start(args.root / "JPEGImages" / name) as session, torch.inference_mode():
                predictor.add_mask(session, 0, obj_id, mask)
                frames = predictor.propagate(session, start_frame_idx=0, max_frame_num_to_track=1)
                next(frames)
                tracked = next(frames).binary()[0]
            with predictor.start(args.root / "JPEGImages" / name) as session, torch.inference_mode():
                out = predictor.add_points(session, 1, obj_id, np.array([region_centre(truth)], np.float32), np.array([1], np.int32))
                clicked = (out.masks[0, 0] > 0).numpy()
            rows[kinds[obj_id - 1]].append((iou(tracked, truth), iou(clicked, truth)))
    print("| object kind | objects | frame 1 IoU, tracked (mean) | median | frame 1 IoU, one click (mean) |")
    print("| --- | --- | --- | --- | --- |")
    for kind, values in rows.items():
        if values:
            tracked_ious, click_ious = zip(*values)
            print(f"| {kind} | {len(values)} | {statistics.mean(tracked_ious):.2f} | {statistics.median(tracked_ious):.2f} | "
                  f"{statistics.mean(click_ious):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
