"""Image and mask resizing in numpy, the same arithmetic as the torch path's.

A resize runs along rows, then columns: each output pixel is a weighted sum of a few
input pixels (two for bilinear with half-pixel centres; when shrinking with
antialiasing, those under the triangle filter widened by the scale, weights
normalised): what torch's interpolate computes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import BadInput
from ..inference.connected_components import label_regions


@lru_cache(maxsize=32)
def resize_weights(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """(n_out, n_in) float32 weights of a 1-D bilinear resize."""
    scale = n_in / n_out
    support = scale if (antialias and scale > 1.0) else 1.0
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        if antialias and scale > 1.0:
            center = (i + 0.5) * scale
            lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
            j = np.arange(lo, hi)
            w = np.clip(1.0 - np.abs((j - center + 0.5) / support), 0.0, None)
            weights[i, lo:hi] = w / w.sum()
        else:
            src = max((i + 0.5) * scale - 0.5, 0.0)
            j0 = min(int(src), n_in - 1)
            j1 = min(j0 + 1, n_in - 1)
            frac = src - j0
            weights[i, j0] += 1.0 - frac
            weights[i, j1] += frac
    return weights.astype(np.float32)


@lru_cache(maxsize=32)
def resize_taps(n_in: int, n_out: int, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero weights of resize_weights: input indices and weights, (n_out, taps) each."""
    weights = resize_weights(n_in, n_out, antialias)
    taps = max(1, int((weights != 0).sum(1).max()))
    index = np.zeros((n_out, taps), dtype=np.int64)
    value = np.zeros((n_out, taps), dtype=np.float32)
    for i, row in enumerate(weights):
        nz = np.flatnonzero(row)
        index[i, : len(nz)], value[i, : len(nz)] = nz, row[nz]
    return index, value


def _resize_rows(maps: np.ndarray, n_out: int, antialias: bool) -> np.ndarray:
    """Resize along axis -2: whole rows gathered and weighted (contiguous copies)."""
    index, value = resize_taps(maps.shape[-2], n_out, antialias)
    out = value[:, 0, None] * maps[..., index[:, 0], :]
    for k in range(1, index.shape[1]):
        out += value[:, k, None] * maps[..., index[:, k], :]
    return out


def resize(maps: np.ndarray, size: tuple[int, int], antialias: bool = False) -> np.ndarray:
    """(..., H, W) float maps -> (..., h, w): columns (as rows of the transpose), then rows."""
    maps = np.asarray(maps, dtype=np.float32)
    cols = np.ascontiguousarray(_resize_rows(np.ascontiguousarray(maps.swapaxes(-1, -2)), size[1], antialias).swapaxes(-1, -2))
    return _resize_rows(cols, size[0], antialias)


def image_array(image) -> np.ndarray:
    """An RGB image (HWC uint8 array or PIL image) as (H, W, 3) float32 in [0, 1]."""
    if hasattr(image, "convert"):
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an HWC uint8 numpy array or a PIL image, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise BadInput(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}; convert it to RGB first")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise BadInput(f"the image is empty (shape {image.shape})")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32)
    raise BadInput(f"expected a uint8 (or float in [0, 1]) image, got dtype {image.dtype}")


def preprocess(image: np.ndarray, size: int, mean: list[float], std: list[float]) -> np.ndarray:
    """(H, W, 3) in [0, 1] -> (1, 3, S, S): antialiased bilinear resize, normalisation."""
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))
    x = resize(chw, (size, size), antialias=True)
    x = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    return x[None].astype(np.float32)


def fill_holes(mask_logits: np.ndarray, max_area: int) -> np.ndarray:
    """Background holes of at most `max_area` pixels in (N, 1, h, w) logits become
    foreground with a small positive logit (0.1), as the torch path's video clean-up."""
    flat = mask_logits.reshape(-1, *mask_logits.shape[-2:])
    background = flat <= 0
    _, areas = label_regions(background)
    hole = background & (areas <= max_area)
    return np.where(hole.reshape(mask_logits.shape), np.float32(0.1), mask_logits).astype(np.float32)


def round_to_bfloat16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32: the
    memories are stored so on the torch path, as in the reference."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)
