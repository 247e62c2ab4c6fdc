"""Do the image features find the object again? Token matching on test families, no memory path.

For each object of each sequence, the stride-16 grid of a frame's features is matched to
frame 0's: every token takes the label (object or not) of its most similar frame-0 token
(cosine similarity), with no learned projection, no memory encoder and no decoder. Token
IoU against the truth (tokens at least half covered), averaged over frames 1-15 and over
objects, beside copying the frame-0 tokens, for several feature sources: the network's
neck output (what memory attention and the decoder read), the same network at random
initialisation, and the pixels themselves (each token's 4x4 colour thumbnail). Features
that match better than pixels carry what tracking needs; ones that match worse do not.

    .venv/bin/python scripts/diagnose_features.py FAMILIES [--checkpoint ...] [--checkpoint ...]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from masklet.build import build_model
from masklet.data.davis import list_sequences, read_annotation
from masklet.eval.families import size_bucket
from masklet.eval.metrics import region_similarity
from masklet.inference.transforms import image_to_tensor, preprocess


def grid_features(model, frames: list[np.ndarray]) -> torch.Tensor:
    """(T, C, h, w) neck features at stride 16."""
    out = []
    with torch.inference_mode():
        for frame in frames:
            image = preprocess(image_to_tensor(frame).unsqueeze(0), model.cfg.image_size)
            out.append(model.forward_image(image).backbone_fpn[-1][0])
    return torch.stack(out)


def pixel_features(frames: list[np.ndarray], size: int, grid: int) -> torch.Tensor:
    """(T, 48, grid, grid): each token's 4x4 RGB thumbnail, mean-removed per frame."""
    x = torch.stack([torch.from_numpy(np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR))).float() for f in frames])
    x = x.permute(0, 3, 1, 2) / 255.0
    thumbs = F.adaptive_avg_pool2d(x, grid * 4)  # (T, 3, 4g, 4g)
    thumbs = thumbs - thumbs.mean(dim=(2, 3), keepdim=True)
    return F.pixel_unshuffle(thumbs, 4)  # (T, 48, g, g)


def token_truth(label: np.ndarray, obj: int, grid: int) -> torch.Tensor:
    """(grid, grid) bool: tokens at least half covered by the object."""
    m = torch.from_numpy((label == obj).astype(np.float32))[None, None]
    m = F.interpolate(m, size=(grid * 16, grid * 16), mode="bilinear", align_corners=False)
    return F.avg_pool2d(m, 16)[0, 0] >= 0.5


def matched(feats: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """(T, g, g) bool: each token labelled as its most similar frame-0 token."""
    f = F.normalize(feats.flatten(2), dim=1)  # (T, C, N)
    sim = torch.einsum("cn,tcm->tmn", f[0], f)  # (T, N_t, N_0)
    best = sim.argmax(dim=2)  # (T, N_t)
    return first.flatten()[best].view(feats.shape[0], *first.shape)


def _label(checkpoint: str | None) -> str:
    """A column name: the file's stem, or its folder's name for a training run's last.pt."""
    if checkpoint is None:
        return "masklet-nano"
    path = Path(checkpoint)
    return path.parent.name if path.stem == "last" and path.parent.name else path.stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("families", type=Path)
    parser.add_argument("--checkpoint", action="append", default=[], help="weights to compare (repeatable; default: the packaged ones)")
    args = parser.parse_args()
    torch.manual_seed(0)
    sources = {"pixels": None, "random init": build_model("masklet-nano").eval()}
    for ckpt in args.checkpoint or [None]:
        if _label(ckpt) in sources:
            parser.error(f"two columns would be named {_label(ckpt)!r}: give each checkpoint its own file or folder name")
        sources[_label(ckpt)] = build_model("masklet-nano", ckpt or "masklet-nano").eval()
    size = next(m for m in sources.values() if m is not None).cfg.image_size
    grid = size // 16
    scores: dict[tuple[str, str], list[float]] = {}
    for family_root in sorted(p for p in args.families.iterdir() if (p / "JPEGImages").is_dir()):
        for name in list_sequences(family_root):
            frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((family_root / "JPEGImages" / name).glob("*.jpg"))]
            labels = [read_annotation(p) for p in sorted((family_root / "Annotations" / name).glob("*.png"))]
            feats = {k: pixel_features(frames, size, grid) if m is None else grid_features(m, frames) for k, m in sources.items()}
            # Each frame's mean token removed: most of a network's feature variance is
            # shared by a whole image, which a learned projection can drop.
            feats |= {f"{k}, centred": f - f.mean(dim=(2, 3), keepdim=True) for k, f in feats.items() if k != "pixels"}
            for obj in sorted(int(v) for v in np.unique(labels[0]) if v):
                truth = torch.stack([token_truth(lab, obj, grid) for lab in labels])
                if not truth[0].any():
                    continue  # too small for a whole token
                groups = (family_root.name, size_bucket(float((labels[0] == obj).mean())))
                answers = {"copy frame 0": truth[0].expand_as(truth)} | {k: matched(f, truth[0]) for k, f in feats.items()}
                for method, answer in answers.items():
                    value = statistics.mean(region_similarity(answer[t].numpy(), truth[t].numpy()) for t in range(1, len(labels)))
                    for group in (*groups, "all"):
                        scores.setdefault((method, group), []).append(value)
    methods = list(dict.fromkeys(m for m, _ in scores))
    groups = list(dict.fromkeys(g for _, g in scores))
    widths = [max(12, len(m) + 2) for m in methods]
    print("token IoU, frames 1.. (objects)".ljust(30) + "".join(f"{m:>{w}}" for m, w in zip(methods, widths)))
    for g in groups:
        n = len(scores[(methods[0], g)])
        print(f"{g} ({n})".ljust(30) + "".join(f"{statistics.mean(scores[(m, g)]):>{w}.3f}" for m, w in zip(methods, widths)))


if __name__ == "__main__":
    main()
