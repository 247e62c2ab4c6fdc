"""Segment everything: masks for a whole image from a grid of point prompts.

The image (and, with crop layers, overlapping crops of it) is embedded once; a grid of
single-click prompts goes through the decoder in batches. Candidates are kept when the
model's predicted IoU and the mask's stability (its IoU under a shift of the threshold)
are high, and when they do not touch a crop's inner edge; duplicates are removed by box
non-maximum suppression within each crop and then across crops, preferring masks from
smaller crops. Small holes and specks go (as the image predictor's clean-up does, on the
low-resolution masks) with `min_mask_region_area`.

Work is saved where the result is the same: the predicted-IoU filter runs on the
low-resolution logits, before any mask is upsampled; masks are upsampled, scored and
run-length encoded a few at a time, so memory holds a handful of full-size masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..errors import BadInput
from ..model import Sam2
from ..rle import mask_runs, runs_to_mask, runs_to_rle
from .boxes import box_nms, masks_to_boxes
from .connected_components import fill_holes_and_sprinkles
from .image_predictor import ImageLike, ImagePredictor
from .transforms import image_to_tensor, scale_coords

UPSAMPLE_CHUNK = 16  # candidate masks brought to full size at once

# (pred_iou_thresh, stability_score_thresh) where the official defaults keep almost nothing:
# masklet-nano's predicted IoUs peak near 0.85 and its mask edges are soft.
MODEL_THRESHOLDS: dict[str, tuple[float, float]] = {"masklet-nano": (0.3, 0.5)}


def model_thresholds(model: Sam2) -> tuple[float, float]:
    """The thresholds that keep a model's confident masks: the official ones, or its own."""
    return MODEL_THRESHOLDS.get(model.cfg.name, (0.8, 0.95))


@dataclass(frozen=True)
class GeneratorSettings:
    """How densely to prompt and what to keep (the official generator's parameters)."""

    points_per_side: int | None = 32  # a points_per_side^2 grid on the image (None: point_grids)
    points_per_batch: int = 64  # prompts through the decoder at once
    pred_iou_thresh: float = 0.8  # keep masks whose predicted IoU is above this
    stability_score_thresh: float = 0.95  # ... and whose stability is at least this
    stability_score_offset: float = 1.0  # the threshold shift the stability is measured under
    mask_threshold: float = 0.0  # logit threshold of a mask
    box_nms_thresh: float = 0.7  # box IoU above which the weaker mask is a duplicate (within a crop)
    crop_n_layers: int = 0  # layers of crops: layer i has (2^i)^2 crops
    crop_nms_thresh: float = 0.7  # box IoU for duplicates across crops
    crop_overlap_ratio: float = 512 / 1500  # how much neighbouring crops overlap (of the short side)
    crop_n_points_downscale_factor: int = 1  # layer i uses points_per_side / factor^i points a side
    point_grids: tuple[np.ndarray, ...] | None = None  # explicit grids in [0, 1], one per layer
    min_mask_region_area: int = 0  # holes and specks up to this area are removed
    use_m2m: bool = False  # refine each candidate once, its own mask fed back as the mask prompt
    multimask_output: bool = True  # three candidates per point

    def grids(self) -> list[np.ndarray]:
        """The point grid of each crop layer, in [0, 1] (x, y)."""
        if (self.points_per_side is None) == (self.point_grids is None):
            raise BadInput("give exactly one of points_per_side or point_grids")
        if self.point_grids is not None:
            return [np.asarray(g, dtype=np.float64) for g in self.point_grids]
        return [point_grid(int(self.points_per_side / self.crop_n_points_downscale_factor**i)) for i in range(self.crop_n_layers + 1)]


def point_grid(n: int) -> np.ndarray:
    """An n x n grid of points at the centres of an n x n division of [0, 1]^2, row by row."""
    side = np.linspace(1 / (2 * n), 1 - 1 / (2 * n), n)
    xs, ys = np.meshgrid(side, side)
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def crop_boxes(height: int, width: int, n_layers: int, overlap_ratio: float) -> list[tuple[list[int], int]]:
    """([x0, y0, x1, y1], layer) of the whole image, then of each layer's overlapping crops."""
    boxes = [([0, 0, width, height], 0)]
    short = min(height, width)
    for layer in range(1, n_layers + 1):
        n = 2**layer
        overlap = int(overlap_ratio * short * (2 / n))
        crop_w = int(math.ceil((overlap * (n - 1) + width) / n))
        crop_h = int(math.ceil((overlap * (n - 1) + height) / n))
        x0s = [int((crop_w - overlap) * i) for i in range(n)]
        y0s = [int((crop_h - overlap) * i) for i in range(n)]
        for x0, y0 in product(x0s, y0s):
            boxes.append(([x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)], layer))
    return boxes


@dataclass
class Candidates:
    """Masks found so far, as run lengths with their box, point, scores and crop."""

    runs: list[np.ndarray] = field(default_factory=list)
    boxes: list[Tensor] = field(default_factory=list)  # (k, 4) int64 in image pixels
    points: list[Tensor] = field(default_factory=list)  # (k, 2) float32 in image pixels
    iou: list[Tensor] = field(default_factory=list)  # (k,)
    stability: list[Tensor] = field(default_factory=list)  # (k,)
    crops: list[Tensor] = field(default_factory=list)  # (k, 4) int64

    def add(self, other: Candidates) -> None:
        for name in ("runs", "boxes", "points", "iou", "stability", "crops"):
            getattr(self, name).extend(getattr(other, name))

    def tensors(self) -> dict[str, Tensor]:
        cat = {name: torch.cat(getattr(self, name)) if getattr(self, name) else None for name in ("boxes", "points", "iou", "stability", "crops")}
        return cat

    def keep(self, index: Tensor) -> Candidates:
        """Only the candidates at `index`, in that order."""
        t = self.tensors()
        if t["boxes"] is None:
            return Candidates()
        idx = index.tolist()
        return Candidates([self.runs[i] for i in idx], [t["boxes"][index]], [t["points"][index]], [t["iou"][index]],
                          [t["stability"][index]], [t["crops"][index]])


@dataclass
class GeneratedMask:
    """One mask of the image with how it was found."""

    runs: np.ndarray  # run lengths (COCO order) of the (H, W) mask
    size: tuple[int, int]  # (H, W)
    box: list[float]  # x0, y0, x1, y1 (inclusive ends)
    predicted_iou: float
    stability_score: float
    point: list[float]  # the click (x, y) that made it, image pixels
    crop_box: list[float]  # x0, y0, x1, y1 of the crop it was found in

    @property
    def area(self) -> int:
        return int(self.runs[1::2].sum())

    @property
    def mask(self) -> np.ndarray:
        return runs_to_mask(self.runs, *self.size)

    def rle(self, compressed: bool = True) -> dict[str, object]:
        return runs_to_rle(self.runs, *self.size, compressed=compressed)


class MaskGenerator:
    """Every object of an image, from a grid of clicks (see the module's docstring)."""

    def __init__(self, model: Sam2 | ImagePredictor, settings: GeneratorSettings = GeneratorSettings()) -> None:
        self.predictor = model if isinstance(model, ImagePredictor) else ImagePredictor(model)
        self.settings = settings
        self.grids = settings.grids()
        if len(self.grids) < settings.crop_n_layers + 1:
            raise BadInput(f"point_grids has {len(self.grids)} grids for {settings.crop_n_layers + 1} crop layers: give one per layer")

    def steps(self, image_hw: tuple[int, int]) -> int:
        """How many point batches `generate` runs on an image of this size (for a progress bar)."""
        b = self.settings.points_per_batch
        return sum(math.ceil(len(self.grids[layer]) / b) for _, layer in crop_boxes(*image_hw, self.settings.crop_n_layers, self.settings.crop_overlap_ratio))

    @torch.inference_mode()
    def generate(self, image: ImageLike, progress: Callable[[], None] | None = None) -> list[GeneratedMask]:
        """All masks of an RGB image, best first (within the order duplicates were removed in)."""
        frame = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
        image_to_tensor(frame[:1, :1])  # the same checks of the array as the predictor's (shape, dtype)
        h, w = frame.shape[:2]
        s = self.settings
        found = Candidates()
        crops = crop_boxes(h, w, s.crop_n_layers, s.crop_overlap_ratio)
        for box, layer in crops:
            found.add(self._crop(frame, box, layer, progress))
        t = found.tensors()
        if t["boxes"] is None:
            return []
        if len(crops) > 1:
            # Across crops, prefer the mask from the smaller crop.
            c = t["crops"]
            found = found.keep(box_nms(t["boxes"], 1.0 / ((c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])), s.crop_nms_thresh))
            t = found.tensors()
        out = []
        for i, runs in enumerate(found.runs):
            out.append(GeneratedMask(
                runs, (h, w), t["boxes"][i].float().tolist(), float(t["iou"][i]), float(t["stability"][i]),
                t["points"][i].tolist(), t["crops"][i].float().tolist(),
            ))
        return out

    def _crop(self, frame: np.ndarray, box: list[int], layer: int, progress: Callable[[], None] | None) -> Candidates:
        """Candidates of one crop, duplicates within it removed."""
        x0, y0, x1, y1 = box
        crop = frame[y0:y1, x0:x1]
        self.predictor.set_image(crop)
        crop_hw = crop.shape[:2]
        points = torch.as_tensor(self.grids[layer] * np.array(crop_hw)[None, ::-1], dtype=torch.float32)
        found = Candidates()
        for start in range(0, len(points), self.settings.points_per_batch):
            found.add(self._batch(points[start : start + self.settings.points_per_batch], crop_hw, box, frame.shape[:2]))
            if progress is not None:
                progress()
        self.predictor.reset()
        t = found.tensors()
        if t["boxes"] is None:
            return found
        found = found.keep(box_nms(t["boxes"], t["iou"], self.settings.box_nms_thresh))
        offset = torch.tensor([x0, y0])
        found.boxes = [b + offset.repeat(2) for b in found.boxes]
        found.points = [p + offset for p in found.points]
        return found

    def _decode(self, points: Tensor, crop_hw: tuple[int, int], mask_input: Tensor | None = None, multimask: bool = True):
        """Low-res logits (N, M, h, w) and predicted IoU (N, M) for one click each."""
        emb = self.predictor.embedding
        model = self.predictor.model
        coords = scale_coords(points[:, None, :], crop_hw, model.cfg.image_size).to(self.predictor.device)
        labels = torch.ones(coords.shape[:2], dtype=torch.int64, device=coords.device)
        sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)
        out = model.sam_mask_decoder(
            image_embeddings=emb.image_embed, image_pe=model.sam_prompt_encoder.get_dense_pe(), sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=multimask, repeat_image=len(points) > 1,
            high_res_features=emb.high_res_feats,
        )
        return out.masks, out.iou_scores

    def _batch(self, points: Tensor, crop_hw: tuple[int, int], box: list[int], image_hw: tuple[int, int]) -> Candidates:
        """One batch of clicks: decode, filter, upsample the survivors a few at a time, encode."""
        s = self.settings
        low, iou = self._decode(points, crop_hw, multimask=s.multimask_output)
        m = low.shape[1]
        low, iou = low.flatten(0, 1), iou.flatten(0, 1)  # (N*M, h, w), (N*M,)
        points = points.repeat_interleave(m, dim=0)
        if s.use_m2m:
            # Each candidate's own (clamped) low-res mask fed back with its click, once.
            refined, refined_iou = [], []
            for start in range(0, len(points), s.points_per_batch):
                sl = slice(start, start + s.points_per_batch)
                mask_in = low[sl, None].clamp(-32.0, 32.0)
                r_low, r_iou = self._decode(points[sl], crop_hw, mask_input=mask_in, multimask=False)
                refined.append(r_low[:, 0])
                refined_iou.append(r_iou[:, 0])
            low, iou = torch.cat(refined), torch.cat(refined_iou)
        if s.pred_iou_thresh > 0.0:
            keep = iou > s.pred_iou_thresh  # on the low-res stage: the same masks survive, none upsampled for nothing
            low, iou, points = low[keep], iou[keep], points[keep]
        found = Candidates()
        for start in range(0, len(low), UPSAMPLE_CHUNK):
            found.add(self._full_size(low[start : start + UPSAMPLE_CHUNK], iou[start : start + UPSAMPLE_CHUNK],
                                      points[start : start + UPSAMPLE_CHUNK], crop_hw, box, image_hw))
        return found

    def _full_size(self, low: Tensor, iou: Tensor, points: Tensor, crop_hw: tuple[int, int], box: list[int], image_hw: tuple[int, int]) -> Candidates:
        """A few candidates at the crop's size: stability, boxes, the crop-edge rule, run lengths."""
        s = self.settings
        logits = low[:, None].float()
        if s.min_mask_region_area > 0:
            logits = fill_holes_and_sprinkles(logits, s.mask_threshold, s.min_mask_region_area, s.min_mask_region_area)
        logits = F.interpolate(logits, crop_hw, mode="bilinear", align_corners=False)[:, 0]  # (k, H, W)
        inter = (logits > s.mask_threshold + s.stability_score_offset).sum((1, 2), dtype=torch.int32)
        union = (logits > s.mask_threshold - s.stability_score_offset).sum((1, 2), dtype=torch.int32)
        stability = inter / union
        keep = stability >= s.stability_score_thresh if s.stability_score_thresh > 0.0 else torch.ones_like(stability, dtype=torch.bool)
        masks = logits[keep] > s.mask_threshold
        iou, points, stability = iou[keep], points[keep], stability[keep]
        boxes = masks_to_boxes(masks)
        x0, y0, x1, y1 = box
        h, w = image_hw
        # A mask cut by a crop's inner edge (within 20 pixels, not at the image's edge) is
        # a part of something the neighbouring crop sees whole.
        image_boxes = (boxes + torch.tensor([x0, y0, x0, y0])).float()
        near_crop = torch.isclose(image_boxes, torch.tensor(box, dtype=torch.float32)[None], atol=20.0, rtol=0)
        near_image = torch.isclose(image_boxes, torch.tensor([0, 0, w, h], dtype=torch.float32)[None], atol=20.0, rtol=0)
        inside = ~(near_crop & ~near_image).any(dim=1)
        masks, boxes, iou, points, stability = masks[inside], boxes[inside], iou[inside], points[inside], stability[inside]
        if (x0, y0, x1, y1) != (0, 0, w, h):
            masks = F.pad(masks, (x0, w - x1, y0, h - y1), value=False)
        return Candidates(mask_runs(masks), [boxes.cpu()], [points.float().cpu()], [iou.float().cpu()], [stability.float().cpu()],
                          [torch.tensor([box] * len(boxes), dtype=torch.long).reshape(-1, 4)])
