"""Frame 1 on a `masklet generate` folder, split by what each object is: a photo cut-out or a texture.

The generator is a pure function of the seed, so each object's kind is found by generating
its sequence again with a spy on the sources it cuts from. For every object visible on
frame 0: the IoU on frame 1 when tracked from its frame-0 mask (memory), and when clicked
once on frame 1 at the truth's deepest pixel, as the click protocol puts a first click (no memory).
And where the tracked frame's memory attention looks: the share of the object tokens'
cross-attention (averaged over heads) that lands on the object's tokens of the frame-0
memory and on the object pointers, per memory attention layer, and the background tokens'
share on the object's memory.

    .venv/bin/python scripts/diagnose_by_kind.py DATASET [--model masklet-nano] [--checkpoint ...] [-n 40] [--wide] [--cutouts F]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from masklet.data import generator
from masklet.data.davis import first_masks, list_sequences, read_annotation
from masklet.eval.interactive import region_centre
from masklet.eval.vos import vos_segmenters
from masklet.model.memory_attention import RoPEAttention


def object_kinds(name: str, wide: bool, cutouts: float | None = None) -> list[str]:
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

    def spying(rng, sources, size, *rest):
        kinds.append("texture")
        return original(rng, [Spy(s) for s in sources], size, *rest)

    generator._appearance = spying
    try:
        cfg = replace(generator.WIDE if wide else generator.GeneratorConfig(), num_frames=1)
        if cutouts is not None:
            cfg = replace(cfg, cutouts=cutouts)
        generator.generate_sequence(int(seed), generator.background_sources(generator.BACKGROUNDS, split), cfg)
    finally:
        generator._appearance = original
    return kinds  # distractors reuse an object's appearance, so these are the objects'


class CrossAttentionSpy:
    """Records the head-averaged weights (Q, K) of every memory cross-attention while active."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []
        self._original = RoPEAttention.attend

    def __enter__(self) -> CrossAttentionSpy:
        original, weights = self._original, self.weights

        def attend(module, q, k, v, scale=None):
            if q.shape[-2] != k.shape[-2]:  # queries: the frame's tokens; keys: its memories
                scale_ = scale if scale is not None else q.shape[-1] ** -0.5
                weights.append(torch.softmax(q @ k.transpose(-1, -2) * scale_, dim=-1).mean(1)[0])
            return original(module, q, k, v, scale)

        RoPEAttention.attend = attend
        return self

    def __exit__(self, *exc: object) -> None:
        RoPEAttention.attend = self._original


def tokens(mask: np.ndarray, side: int) -> torch.Tensor:
    """The (side*side,) tokens a mask mostly covers once the frame is resized to the square input."""
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    return (F.interpolate(m, size=(side, side), mode="area")[0, 0] > 0.3).flatten()


def attention_shares(weights: torch.Tensor, first: np.ndarray, now: np.ndarray) -> tuple[float, float, float]:
    """Object tokens' share on the object's memory tokens and on the pointers; background tokens' on the object's memory."""
    side = round(weights.shape[0] ** 0.5)
    before, after = tokens(first, side), tokens(now, side)
    spatial = weights[:, : side * side]  # the frame-0 memory comes first, its pointers last
    return (float(spatial[after][:, before].sum(1).mean()), float(weights[after, side * side :].sum(1).mean()),
            float(spatial[~after][:, before].sum(1).mean()))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("-n", type=int, default=40, help="first N sequences")
    parser.add_argument("--wide", action="store_true", help="the folder was written with masklet generate --wide")
    parser.add_argument("--cutouts", type=float, default=None, help="the folder was written with masklet generate --cutouts F")
    args = parser.parse_args()
    predictor, _ = vos_segmenters(args.model, args.checkpoint)
    rows: dict[str, list[tuple[float, ...]]] = {"cutout": [], "texture": []}
    for name in list_sequences(args.root)[: args.n]:
        kinds = object_kinds(name, args.wide, args.cutouts)
        gt = [read_annotation(p) for p in sorted((args.root / "Annotations" / name).glob("*.png"))[:2]]
        for obj_id, (_, mask) in first_masks(gt[:1]).items():
            truth = gt[1] == obj_id
            if truth.sum() < 20:  # (almost) hidden on frame 1
                continue
            with predictor.start(args.root / "JPEGImages" / name) as session, torch.inference_mode(), CrossAttentionSpy() as spy:
                predictor.add_mask(session, 0, obj_id, mask)
                frames = predictor.propagate(session, start_frame_idx=0, max_frame_num_to_track=1)
                next(frames)
                tracked = next(frames).binary()[0]
            side = round(spy.weights[0].shape[0] ** 0.5)
            if not (tokens(mask, side).any() and tokens(truth, side).any()):
                continue  # too small to cover a token
            with predictor.start(args.root / "JPEGImages" / name) as session, torch.inference_mode():
                out = predictor.add_points(session, 1, obj_id, np.array([region_centre(truth)], np.float32), np.array([1], np.int32))
                clicked = (out.masks[0, 0] > 0).numpy()
            shares = [v for w in spy.weights for v in attention_shares(w, mask, truth)]
            rows[kinds[obj_id - 1]].append((iou(tracked, truth), iou(clicked, truth), *shares))
    layers = (len(next(v for v in rows.values() if v)[0]) - 2) // 3 if any(rows.values()) else 0
    head = "".join(f" L{i} object -> object memory / pointers / background -> object memory |" for i in range(layers))
    print("| object kind | objects | frame 1 IoU, tracked (mean) | median | frame 1 IoU, one click (mean) |" + head)
    print("| --- " * (5 + layers) + "|")
    for kind, values in rows.items():
        if values:
            columns = list(zip(*values))
            shares = "".join(f" {statistics.mean(columns[2 + 3 * i]):.2f} / {statistics.mean(columns[3 + 3 * i]):.2f} / "
                             f"{statistics.mean(columns[4 + 3 * i]):.2f} |" for i in range(layers))
            print(f"| {kind} | {len(values)} | {statistics.mean(columns[0]):.2f} | {statistics.median(columns[0]):.2f} | "
                  f"{statistics.mean(columns[1]):.2f} |" + shares)
    return 0


if __name__ == "__main__":
    sys.exit(main())
