"""Region similarity J and boundary accuracy F, as the DAVIS benchmark defines them.

J is the IoU of two masks. F is the F-measure of boundary pixels: a boundary pixel of
one mask counts as matched when the other mask's boundary lies within a disk of radius
ceil(0.008 x image diagonal) around it. Both masks empty: J = F = 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

BOUND_TH = 0.008


def region_similarity(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """J: intersection over union of boolean masks (pixels in `void` ignored)."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    if void is not None:
        keep = ~void.astype(bool)
        pred, gt = pred & keep, gt & keep
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Pixels whose right, lower or lower-right neighbour differs: a 1-pixel boundary."""
    seg = mask.astype(bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    boundary = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    boundary[-1, :] = seg[-1, :] ^ east[-1, :]
    boundary[:, -1] = seg[:, -1] ^ south[:, -1]
    boundary[-1, -1] = False
    return boundary


def _disk(radius: int) -> torch.Tensor:
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    return ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).float()


def _dilate(boundary: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return boundary
    x = torch.from_numpy(boundary.astype(np.float32))[None, None]
    k = _disk(radius)[None, None]
    return (F.conv2d(x, k, padding=radius)[0, 0] > 0).numpy()


def boundary_accuracy(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = BOUND_TH) -> float:
    """F: F-measure of boundary precision and recall within the DAVIS tolerance."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    if void is not None:
        keep = ~void.astype(bool)
        pred, gt = pred & keep, gt & keep
    radius = int(bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*pred.shape)))
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # precision 1, recall 0 (or the reverse): F = 0
    precision = float((pred_b & _dilate(gt_b, radius)).sum() / n_pred)
    recall = float((gt_b & _dilate(pred_b, radius)).sum() / n_gt)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
