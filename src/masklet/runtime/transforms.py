"""Image and mask resizing in numpy, the same arithmetic as the torch path's.

A resize is a product with two weight matrices (rows, then columns): bilinear with
half-pixel centres, and when shrinking, the triangle filter widened by the scale
(antialiasing), each row of weights normalised: what torch's interpolate computes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import BadInput


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


def resize(maps: np.ndarray, size: tuple[int, int], antialias: bool = False) -> np.ndarray:
    """(..., H, W) float maps -> (..., h, w)."""
    wy = resize_weights(maps.shape[-2], size[0], antialias)
    wx = resize_weights(maps.shape[-1], size[1], antialias)
    return np.matmul(np.matmul(wy, maps), wx.T)


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
