"""Semi-supervised video object segmentation on a DAVIS-layout dataset: J, F and J&F.

Layout (read by masklet.data.davis): ROOT/JPEGImages/<seq>/*.jpg and
ROOT/Annotations/<seq>/*.png, palette-indexed (0 background, k the object with id k). Each object's mask is given on the first frame
where it is annotated; every frame is then predicted. As in the DAVIS evaluation, the
first and last frames of a sequence are not scored.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..atomic import atomic_path
from ..data.davis import first_masks, list_sequences, read_annotation
from ..errors import BadInput, NotFound
from ..inference.video_predictor import to_video_res
from .metrics import boundary_accuracy, region_similarity

# A segmenter gets the frames folder and {obj_id: (frame_idx, mask)} and returns one
# (H, W) uint8 label map per frame.
Segmenter = Callable[[Path, dict[int, tuple[int, np.ndarray]]], list[np.ndarray]]


@dataclass
class ObjectScore:
    sequence: str
    obj_id: int
    j: float
    f: float
    area: float = float("nan")  # the object's share of the prompted frame

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


@dataclass
class VosResult:
    objects: list[ObjectScore] = field(default_factory=list)

    @property
    def j(self) -> float:
        return float(np.mean([o.j for o in self.objects])) if self.objects else float("nan")

    @property
    def f(self) -> float:
        return float(np.mean([o.f for o in self.objects])) if self.objects else float("nan")

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2

    def per_sequence(self) -> dict[str, tuple[float, float, float]]:
        table: dict[str, list[ObjectScore]] = {}
        for o in self.objects:
            table.setdefault(o.sequence, []).append(o)
        return {
            seq: (float(np.mean([o.j for o in objs])), float(np.mean([o.f for o in objs])), float(np.mean([o.jf for o in objs])))
            for seq, objs in table.items()
        }

    def table(self) -> str:
        lines = [f"{'sequence':<24} {'J&F':>6} {'J':>6} {'F':>6}"]
        for seq, (j, f, jf) in sorted(self.per_sequence().items()):
            lines.append(f"{seq:<24} {jf:6.3f} {j:6.3f} {f:6.3f}")
        lines.append(f"{'overall':<24} {self.jf:6.3f} {self.j:6.3f} {self.f:6.3f}")
        return "\n".join(lines)

    def write_csv(self, path: str | os.PathLike) -> None:
        """Per-object rows, then per-sequence and overall rows; written atomically."""
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sequence", "object", "J&F", "J", "F"])
            for o in self.objects:
                w.writerow([o.sequence, o.obj_id, f"{o.jf:.4f}", f"{o.j:.4f}", f"{o.f:.4f}"])
            for seq, (j, fm, jf) in sorted(self.per_sequence().items()):
                w.writerow([seq, "all", f"{jf:.4f}", f"{j:.4f}", f"{fm:.4f}"])
            w.writerow(["overall", "all", f"{self.jf:.4f}", f"{self.j:.4f}", f"{self.f:.4f}"])


def comparison_table(results: dict[str, VosResult]) -> str:
    """Overall J&F, J and F of several methods side by side, with each one's gap to the first."""
    first = next(iter(results.values()))
    lines = [f"{'method':<20} {'J&F':>6} {'J':>6} {'F':>6} {'J&F gap':>8}"]
    for name, r in results.items():
        gap = "" if r is first else f"{first.jf - r.jf:+8.3f}"
        lines.append(f"{name:<20} {r.jf:6.3f} {r.j:6.3f} {r.f:6.3f} {gap:>8}")
    return "\n".join(lines)


def score_sequence(name: str, pred: list[np.ndarray], gt: list[np.ndarray], obj_ids: list[int],
                   areas: dict[int, float] | None = None) -> list[ObjectScore]:
    """Mean J and F of each object over the frames between the first and the last."""
    frames = range(1, len(gt) - 1) if len(gt) > 2 else range(len(gt))
    scores = []
    for obj_id in obj_ids:
        js = [region_similarity(pred[t] == obj_id, gt[t] == obj_id) for t in frames]
        fs = [boundary_accuracy(pred[t] == obj_id, gt[t] == obj_id) for t in frames]
        scores.append(ObjectScore(name, obj_id, float(np.mean(js)), float(np.mean(fs)), (areas or {}).get(obj_id, float("nan"))))
    return scores


def breakdown_table(results: dict[str, VosResult], group: Callable[[ObjectScore], str], title: str,
                    order: list[str] | None = None) -> str:
    """J&F of each method (columns) per group of objects (rows: a family, a size bucket),
    with the number of objects in each group."""
    groups = order or sorted({group(o) for r in results.values() for o in r.objects})
    width = max(12, *(len(m) for m in results))
    lines = [f"{title:<16} {'objects':>7} " + " ".join(f"{m:>{width}}" for m in results)]
    for g in groups:
        cells, count = [], 0
        for r in results.values():
            objs = [o for o in r.objects if group(o) == g]
            count = len(objs)
            cells.append(f"{np.mean([o.jf for o in objs]):>{width}.3f}" if objs else f"{'':>{width}}")
        if count:
            lines.append(f"{g:<16} {count:>7} " + " ".join(cells))
    return "\n".join(lines)


def evaluate_vos(
    root: str | os.PathLike,
    segmenter: Segmenter,
    sequences: list[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> VosResult:
    """Run a segmenter over every sequence and score it; optionally save its label maps."""
    from tqdm import tqdm

    root = Path(root)
    result = VosResult()
    for name in tqdm(sequences or list_sequences(root), desc="sequences", disable=not progress):
        result.objects += evaluate_sequence(root, name, segmenter, out_dir)
    return result


def evaluate_sequence(root: Path, name: str, segmenter: Segmenter, out_dir: str | os.PathLike | None = None) -> list[ObjectScore]:
    """One sequence: the segmenter prompted with the first masks, its objects scored."""
    ann_paths = sorted((root / "Annotations" / name).glob("*.png"))
    if not ann_paths:
        raise NotFound(f"no annotations for sequence {name} in {root / 'Annotations' / name}")
    gt = [read_annotation(p) for p in ann_paths]
    prompts = first_masks(gt)
    pred = segmenter(root / "JPEGImages" / name, prompts)
    if len(pred) != len(gt):
        raise BadInput(f"{name}: the segmenter returned {len(pred)} frames for {len(gt)} annotations")
    if out_dir is not None:
        save_label_maps(Path(out_dir) / name, pred, ann_paths)
    areas = {obj_id: float(mask.mean()) for obj_id, (_, mask) in prompts.items()}
    return score_sequence(name, pred, gt, sorted(prompts), areas)


def require_weights(config: str, checkpoint: str | None) -> str:
    """The model's canonical name, or BadInput when it needs a checkpoint and has none."""
    from ..checkpoint import EMBEDDED_WEIGHTS
    from ..presets import canonical_name

    name = canonical_name(config)
    if checkpoint is None and name not in EMBEDDED_WEIGHTS:
        raise BadInput(f"--checkpoint is needed for {name} (only masklet-nano ships its weights)")
    return name


def vos_segmenters(config: str, checkpoint: str | None = None, image_size: int | None = None,
                   baselines: tuple[str, ...] = ()) -> tuple[object, dict[str, Segmenter]]:
    """The predictor `masklet eval` scores (no hole filling) and its segmenters by label:
    the model's own name first, then "copy first frame" and/or "without memory"."""
    from ..build import build_model
    from ..inference.video_predictor import VideoPredictor

    name = require_weights(config, checkpoint)
    overrides = {"image_size": image_size} if image_size else {}
    predictor = VideoPredictor(build_model(name, checkpoint or name, **overrides), fill_hole_area=0)
    segmenters = {name: sam2_segmenter(predictor)}
    for baseline in baselines:
        if baseline == "copy":
            segmenters["copy first frame"] = copy_first_frame_segmenter()
        elif baseline == "no-memory":
            segmenters["without memory"] = sam2_segmenter(predictor, memory=False)
        else:
            raise BadInput(f"unknown baseline {baseline!r}: copy or no-memory")
    return predictor, segmenters


def save_label_maps(folder: Path, labels: list[np.ndarray], names: list[Path]) -> None:
    from ..palette import PALETTE

    folder.mkdir(parents=True, exist_ok=True)
    for label, name in zip(labels, names):
        img = Image.fromarray(label.astype(np.uint8), mode="P")
        img.putpalette(PALETTE)
        with atomic_path(folder / name.name) as tmp:
            img.save(tmp, format="PNG")


def sam2_segmenter(predictor, memory: bool = True) -> Segmenter:
    """The semi-supervised protocol with a masklet VideoPredictor.

    memory=False is the ablation with the memory switched off: every frame is segmented
    from its object's first-frame mask prompt alone, with no memory of other frames.
    """

    def run(frames: Path, prompts: dict[int, tuple[int, np.ndarray]]) -> list[np.ndarray]:
        with predictor.start(frames) as session:
            return _segment(session, prompts)

    def _segment(session, prompts: dict[int, tuple[int, np.ndarray]]) -> list[np.ndarray]:
        n = session.num_frames
        logits = torch.full((n, len(prompts), session.video_height, session.video_width), -1024.0)
        if memory:
            for obj_id, (t0, mask) in prompts.items():
                predictor.add_mask(session, t0, obj_id, mask)
            for r in predictor.propagate(session, start_frame_idx=0):
                logits[r.frame_idx] = r.masks[:, 0]
        for i, (obj_id, (t0, mask)) in enumerate(prompts.items()):
            logits[:t0, i] = -1024.0  # not there before its first annotation
            logits[t0, i] = torch.from_numpy(np.where(mask, 10.0, -10.0))
            if not memory:
                for t in range(t0 + 1, n):
                    logits[t, i] = _from_prompt_alone(predictor, session, t, mask)
        ids = np.array(list(prompts), dtype=np.uint8)
        best = logits.argmax(dim=1).numpy()
        present = (logits.max(dim=1).values > 0).numpy()
        return [np.where(present[t], ids[best[t]], 0).astype(np.uint8) for t in range(n)]

    return run


@torch.inference_mode()
def _from_prompt_alone(predictor, session, frame_idx: int, mask: np.ndarray) -> torch.Tensor:
    """An object's mask on a frame from its first-frame mask used as a prompt there."""
    low = torch.from_numpy(mask.astype(np.float32))[None, None]
    size = predictor.model.sam_prompt_encoder.mask_input_size
    low = torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False) * 20.0 - 10.0
    feats = predictor.frame_features(session, frame_idx)
    pix = predictor.model.condition_on_memory(feats.vision_feats, feats.vision_pos, None)
    out = predictor.model.forward_sam_heads(pix, None, low, feats.high_res_feats, multimask_output=False)
    return to_video_res(out.low_res_masks, (session.video_height, session.video_width))[0, 0]


def copy_first_frame_segmenter() -> Segmenter:
    """The trivial baseline: every frame gets each object's first-frame mask."""

    def run(frames: Path, prompts: dict[int, tuple[int, np.ndarray]]) -> list[np.ndarray]:
        n = len([p for p in frames.iterdir() if p.suffix.lower() in (".jpg", ".jpeg")])
        shape = next(iter(prompts.values()))[1].shape
        out = []
        for t in range(n):
            label = np.zeros(shape, dtype=np.uint8)
            for obj_id, (t0, mask) in prompts.items():
                if t >= t0:
                    label[mask] = obj_id
            out.append(label)
        return out

    return run
