"""SAM2ImagePredictor's interface over the exported graphs: set_image once, predict at once."""

from __future__ import annotations

import os

import numpy as np

from ..errors import BadPrompt, NotReady
from .graphs import Graphs
from .transforms import image_array, preprocess, resize

NOT_A_POINT = -1


def prompt_points(
    orig_hw: tuple[int, int], size: int, point_coords: object, point_labels: object, box: object, normalize_coords: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Clicks and boxes as model-space (N, P, 2) points and (N, P) labels: box corners
    (labels 2, 3) first, then the clicks; None when there are neither."""
    h, w = orig_hw
    scale = np.array([size / w, size / h] if normalize_coords else [size, size], dtype=np.float32)
    coords = labels = None
    if point_coords is not None:
        if point_labels is None:
            raise BadPrompt("point_coords were given without point_labels: give one label per point (1 positive, 0 negative)")
        coords = np.asarray(point_coords, dtype=np.float32)
        labels = np.asarray(point_labels, dtype=np.int64)
        if coords.ndim == 2:
            coords, labels = coords[None], labels[None]
        if coords.ndim != 3 or coords.shape[-1] != 2:
            raise BadPrompt(f"point_coords must have shape (N, 2) or (B, N, 2), got {coords.shape}")
        if labels.shape != coords.shape[:-1]:
            raise BadPrompt(f"point_labels has shape {labels.shape} but point_coords {coords.shape}: give one label per point")
        if not ((labels >= -1) & (labels <= 3)).all():
            raise BadPrompt("point_labels must be 1 (positive), 0 (negative), 2/3 (box corners) or -1 (padding)")
        coords = coords * scale
    elif point_labels is not None:
        raise BadPrompt("point_labels were given without point_coords")
    if box is not None:
        boxes = np.asarray(box, dtype=np.float32)
        if boxes.shape[-1:] != (4,) or boxes.ndim > 2:
            raise BadPrompt(f"box must have shape (4,) or (N, 4) as x1, y1, x2, y2; got {boxes.shape}")
        corners = boxes.reshape(-1, 2, 2) * scale
        corner_labels = np.tile(np.array([[2, 3]]), (len(corners), 1))
        if coords is not None:
            if len(coords) != len(corners):
                if len(coords) != 1:
                    raise BadPrompt(f"{len(corners)} boxes but {len(coords)} point sets: give one point set per box, or one for all")
                coords = np.repeat(coords, len(corners), axis=0)
                labels = np.repeat(labels, len(corners), axis=0)
            coords, labels = np.concatenate([corners, coords], 1), np.concatenate([corner_labels, labels], 1)
        else:
            coords, labels = corners, corner_labels
    if coords is None:
        return None
    # The decoder expects one trailing "not a point" after the prompts (no separate box input).
    coords = np.concatenate([coords, np.zeros_like(coords[:, :1])], axis=1)
    labels = np.concatenate([labels, np.full_like(labels[:, :1], NOT_A_POINT)], axis=1)
    return coords.astype(np.float32), labels.astype(np.int32)


def stability(logits: np.ndarray, delta: float) -> np.ndarray:
    """IoU of a mask thresholded at +delta and at -delta (1.0: stable)."""
    flat = logits.reshape(*logits.shape[:-2], -1)
    inner = (flat > delta).sum(-1).astype(np.float32)
    outer = (flat > -delta).sum(-1).astype(np.float32)
    return np.where(outer > 0, inner / np.maximum(outer, 1), 1.0)


def choose_masks(manifest: dict, masks: np.ndarray, iou: np.ndarray, multimask_output: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From all candidates (N, 4, h, w): the three multimask ones, or the single one (or,
    where the model says so and it is unstable, the best of the three). Also returns which
    candidate each output is, (N, K)."""
    n = masks.shape[0]
    if multimask_output:
        return masks[:, 1:], iou[:, 1:], np.tile(np.arange(1, masks.shape[1]), (n, 1))
    index = np.zeros((n, 1), dtype=np.int64)
    if manifest["dynamic_multimask_via_stability"]:
        best = 1 + iou[:, 1:].argmax(-1)
        stable = stability(masks[:, 0], manifest["dynamic_multimask_stability_delta"]) >= manifest["dynamic_multimask_stability_thresh"]
        index[:, 0] = np.where(stable, 0, best)
    rows = np.arange(n)[:, None]
    return masks[rows, index], iou[rows, index], index


class ImagePredictor:
    """Holds one embedded image; `predict` answers prompts on it (the official method names)."""

    def __init__(self, graphs: Graphs | str | os.PathLike, mask_threshold: float = 0.0, int8: bool = False,
                 apply_postprocessing: bool = True) -> None:
        self.graphs = graphs if isinstance(graphs, Graphs) else Graphs(graphs, int8=int8)
        self.mask_threshold = mask_threshold
        # As the official builder: with postprocessing, a single mask is swapped for the best
        # candidate when it is unstable; without, the model's own setting (masklet's torch path).
        m = self.graphs.manifest
        self.decoder = dict(m, dynamic_multimask_via_stability=m["dynamic_multimask_via_stability"] or apply_postprocessing)
        self._features: dict[str, np.ndarray] | None = None
        self._orig_hw: tuple[int, int] | None = None

    def set_image(self, image: object) -> None:
        """Run the image encoder on an RGB image (HWC uint8 array or PIL image)."""
        m = self.graphs.manifest
        array = image_array(image)
        x = preprocess(array, self.graphs.image_size, m["mean"], m["std"])
        vision, _, fine0, fine1 = self.graphs.run("image_encoder", image=x)
        embed = vision + self.graphs.params["no_mem_embed"][None, :, None, None]
        self._features = {"image_embed": embed, "fine0": fine0, "fine1": fine1}
        self._orig_hw = array.shape[:2]

    def reset_predictor(self) -> None:
        self._features, self._orig_hw = None, None

    def get_image_embedding(self) -> np.ndarray:
        if self._features is None:
            raise NotReady("An image must be set with .set_image(...) to generate an embedding.")
        return self._features["image_embed"]

    def decode(self, coords: np.ndarray | None, labels: np.ndarray | None, mask_input: np.ndarray | None, n: int) -> list[np.ndarray]:
        """The prompt decoder on N prompt sets: all candidates, IoUs, object scores, pointers."""
        m = self.graphs.manifest
        side = m["mask_input_size"]
        if coords is None:
            coords, labels = np.zeros((n, 0, 2), np.float32), np.zeros((n, 0), np.int32)
        has_mask = np.zeros(n, np.float32)
        masks_in = np.zeros((n, 1, *side), np.float32)
        if mask_input is not None:
            masks_in[:] = mask_input
            has_mask[:] = 1.0
        return self.graphs.run("prompt_decoder", point_coords=coords, point_labels=labels, mask_input=masks_in,
                               has_mask_input=has_mask, **self._features)

    def predict(
        self,
        point_coords: object = None,
        point_labels: object = None,
        box: object = None,
        mask_input: object = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks (C, H, W) (or (B, C, H, W) for B prompt sets), their scores, 256x256 logits."""
        if self._features is None:
            raise NotReady("An image must be set with .set_image(...) before mask prediction.")
        m = self.graphs.manifest
        points = prompt_points(self._orig_hw, self.graphs.image_size, point_coords, point_labels, box, normalize_coords)
        masks_in = None
        if mask_input is not None:
            masks_in = np.asarray(mask_input, dtype=np.float32)
            if masks_in.ndim == 3:
                masks_in = masks_in[None]
            side = tuple(m["mask_input_size"])
            if masks_in.ndim != 4 or masks_in.shape[1] != 1 or masks_in.shape[-2:] != side:
                raise BadPrompt(f"mask_input must have shape (1, {side[0]}, {side[1]}) or (N, 1, ...): the low-res logits "
                                f"returned by a previous prediction; got {masks_in.shape}")
        if points is None and masks_in is None:
            raise BadPrompt("give point_coords with point_labels, a box, or a mask_input")
        n = len(points[0]) if points is not None else len(masks_in)
        low, iou, _, _ = self.decode(*(points or (None, None)), masks_in, n)
        low, iou, _ = choose_masks(self.decoder, low, iou, multimask_output)
        masks = resize(low, self._orig_hw)
        if not return_logits:
            masks = (masks > self.mask_threshold).astype(np.float32)
        low = np.clip(low, -32.0, 32.0)
        if n == 1:
            return masks[0], iou[0], low[0]
        return masks, iou, low
