"""What memory attention carries, and what the decoder makes of it, on test families.

Clips of each family are tracked as training tracks them (the first frame's mask as the
prompt, every later frame from memory, no corrective clicks). On each tracked frame, at
the stride-16 token grid (tokens at least half covered): the label each memory attention
layer carries to the frame's tokens (its head-averaged weight on spatial memory that lands
on the object, the memories labelled by the truth), the decoder's mask, and copying the
first frame, each as token IoU with the truth; the attention loss (masklet train
--attention-weight) per layer; and the median ratio of the predicted mask's area to the
truth's. Labels carried well but a poor mask point at the decoder; labels carried badly
point at memory attention or the features it matches.

    .venv/bin/python scripts/diagnose_attention.py FAMILIES [--checkpoint ...] [--checkpoint ...] [--clips 24]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from masklet.build import build_model
from masklet.data.davis import list_sequences
from masklet.errors import NotFound
from masklet.train.clip import AttentionRecorder, memory_for
from masklet.train.losses import attention_loss, carried_labels
from masklet.train.trainer import ClipSampler


def token_shares(masks: torch.Tensor, side: int) -> torch.Tensor:
    """(T, side*side): the share of each token a (T, 1, S, S) mask covers."""
    return F.interpolate(masks.float(), size=(side, side), mode="area").flatten(1)


def carried(weights: torch.Tensor, key_object: torch.Tensor) -> torch.Tensor:
    """(N,): the object label one cross-attention (1, heads, N, M + P) carries from M labelled memory tokens."""
    return carried_labels(weights, key_object[None])[0]


def token_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


@torch.inference_mode()
def track(model, frames: torch.Tensor, masks: torch.Tensor) -> list[dict]:
    """Track one clip (T, 3, S, S) from its first mask; per tracked frame: the recorded
    cross-attentions, the frames their memories hold, and the predicted high-res mask."""
    feats = model.forward_image(frames)
    vision, pos, high_res = feats.vision_features, feats.vision_pos_enc[-1], feats.backbone_fpn[:-1]
    first = model.use_mask_as_output(vision[:1], [f[:1] for f in high_res], masks[:1].float())
    memories = [model.encode_memory(vision[:1], first.high_res_masks, first.object_score_logits, False)]
    pointers = [first.obj_ptr]
    recorder, frames_out = AttentionRecorder(model), []
    for t in range(1, len(frames)):
        memory, held = memory_for(model, t, memories, pointers, len(frames))
        with recorder:
            pix = model.condition_on_memory(vision[t : t + 1], pos[t : t + 1], memory)
        out = model.forward_sam_heads(pix, None, None, [f[t : t + 1] for f in high_res], model.use_multimask(False, 0))
        memories.append(model.encode_memory(vision[t : t + 1], out.high_res_masks, out.object_score_logits, False))
        pointers.append(out.obj_ptr)
        frames_out.append({"weights": recorder.weights, "held": held, "mask": out.high_res_masks[0] > 0})
    return frames_out


def family_rows(model, root: Path, clips: int, clip_len: int, seed: int) -> dict[str, list[float]]:
    """Per tracked frame of `clips` random clips, the figures of the table, split into frame 1 and the rest."""
    sampler = ClipSampler(root, model.cfg.image_size, clip_len=clip_len)
    rng = np.random.default_rng(seed)
    side = model.cfg.image_size // model.cfg.backbone_stride
    rows: dict[str, list[float]] = {}
    for _ in range(clips):
        frames, masks = sampler.sample(rng)
        shares = token_shares(masks, side)  # (T, N)
        truth = shares > 0.5
        if not truth[0].any():
            continue
        for t, tracked in enumerate(track(model, frames, masks), start=1):
            if not truth[t].any():
                continue
            when = "frame 1" if t == 1 else "frames 2+"
            keys = torch.cat([shares[f] for f in tracked["held"]])
            predicted = token_shares(tracked["mask"][None].float(), side)[0] > 0.5
            figures = {"copy": token_iou(truth[0], truth[t]), "predicted": token_iou(predicted, truth[t]),
                       "area": float(tracked["mask"].float().mean() / masks[t].float().mean())}
            for i, weights in enumerate(tracked["weights"]):
                figures[f"carried L{i}"] = token_iou(carried(weights, keys) > 0.5, truth[t])
                figures[f"loss L{i}"] = float(attention_loss(weights, shares[t][None], keys[None])[0])
            for name, value in figures.items():
                rows.setdefault(f"{when}|{name}", []).append(value)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a folder of family folders (masklet test-families) or one DAVIS-layout folder")
    parser.add_argument("--model", default="masklet-nano")
    parser.add_argument("--checkpoint", action="append", default=None, help="repeatable; default: the packaged weights")
    parser.add_argument("--clips", type=int, default=24, help="random clips per family")
    parser.add_argument("--clip-len", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        list_sequences(args.root)
        families = [args.root]
    except NotFound:
        families = sorted(p for p in args.root.iterdir() if (p / "JPEGImages").is_dir())
    if not families:
        raise SystemExit(f"no DAVIS-layout folders under {args.root}")
    layers = None
    for checkpoint in args.checkpoint or [None]:
        model = build_model(args.model, checkpoint).eval()
        if layers is None:
            layers = len(model.memory_attention.layers)
            carried_cols = " / ".join(f"L{i}" for i in range(layers))
            print(f"| weights | family | tracked frames | frames | attention loss {carried_cols} | labels carried {carried_cols} "
                  "| predicted mask | copying | predicted / true area (median) |")
            print("| --- " * 9 + "|")
        for family in families:
            rows = family_rows(model, family, args.clips, args.clip_len, args.seed)
            for when in ("frame 1", "frames 2+"):
                if f"{when}|copy" not in rows:
                    continue
                mean = {k.split("|")[1]: statistics.mean(v) for k, v in rows.items() if k.startswith(when)}
                loss = " / ".join(f"{mean[f'loss L{i}']:.2f}" for i in range(layers))
                labels = " / ".join(f"{mean[f'carried L{i}']:.2f}" for i in range(layers))
                area = statistics.median(rows[f"{when}|area"])
                print(f"| {checkpoint or args.model} | {family.name} | {when} | {len(rows[f'{when}|copy'])} | {loss} | {labels} "
                      f"| {mean['predicted']:.2f} | {mean['copy']:.2f} | {area:.2f} |")


if __name__ == "__main__":
    main()
