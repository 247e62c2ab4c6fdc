"""Connected components of binary masks on the CPU, in numpy (no custom extension).

Pixels are grouped into horizontal runs; runs touching across neighbouring rows (8-
connectivity: a run touches the one below if they overlap or meet at a corner) are
joined by a union-find done for all of them at once: each round every edge hooks the
larger root under the smaller, then pointers jump until every run points at its root.
The rounds grow like the log of a region's length, not with its length, so a spiral
costs as little as a disc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor


def label_regions(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label 8-connected foreground regions of (N, H, W) boolean masks (numpy, so the
    torch path and masklet.runtime share it). Returns labels (N, H, W) int64, 0 for
    background and a region id otherwise, and each pixel's region area (0 on background)."""
    n, h, w = masks.shape
    fg = np.ascontiguousarray(masks, dtype=bool).reshape(n * h, w)  # one row of pixels per line
    labels = np.zeros((n * h, w), np.int64)
    areas = np.zeros((n * h, w), np.int64)
    starts = fg & ~np.concatenate([np.zeros((n * h, 1), bool), fg[:, :-1]], axis=1)
    run_of = (np.cumsum(starts.ravel()) - 1).reshape(n * h, w)  # run index of each foreground pixel
    n_runs = int(starts.sum())
    if n_runs == 0:
        return labels.reshape(n, h, w), areas.reshape(n, h, w)
    # Edges between a pixel and its lower, lower-left and lower-right neighbours (same image).
    not_last = (np.arange(n * h) % h != h - 1)[:-1, None]
    up, low, up_run, low_run = fg[:-1], fg[1:], run_of[:-1], run_of[1:]
    pairs = [(up & low & not_last, up_run, low_run),
             (up[:, 1:] & low[:, :-1] & not_last, up_run[:, 1:], low_run[:, :-1]),
             (up[:, :-1] & low[:, 1:] & not_last, up_run[:, :-1], low_run[:, 1:])]
    a = np.concatenate([u[m] for m, u, _ in pairs])
    b = np.concatenate([v[m] for m, _, v in pairs])
    if len(a):
        key = np.unique(a * n_runs + b)  # runs overlap over many columns: one edge each
        a, b = key // n_runs, key % n_runs
    parent = np.arange(n_runs)
    while len(a):
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            break
        a, b, ra, rb = a[differ], b[differ], ra[differ], rb[differ]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))  # hook the larger root under the smaller
        while True:  # pointer jumping until every run points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    run_length = np.bincount(run_of[fg], minlength=n_runs)
    region_area = np.bincount(parent, weights=run_length, minlength=n_runs).astype(np.int64)
    labels[fg] = parent[run_of[fg]] + 1
    areas[fg] = region_area[parent][run_of[fg]]
    return labels.reshape(n, h, w), areas.reshape(n, h, w)


def connected_components(masks: Tensor) -> tuple[Tensor, Tensor]:
    """label_regions for (N, 1, H, W) boolean tensors: labels and areas, (N, 1, H, W) int64."""
    import torch

    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"expected masks of shape (N, 1, H, W), got {tuple(masks.shape)}")
    labels, areas = label_regions(masks[:, 0].bool().cpu().numpy())
    return torch.from_numpy(labels)[:, None].to(masks.device), torch.from_numpy(areas)[:, None].to(masks.device)


def fill_holes_and_sprinkles(
    mask_logits: Tensor, threshold: float, max_hole_area: float, max_sprinkle_area: float
) -> Tensor:
    """Flip small background holes to foreground and small foreground specks to background.

    mask_logits: (B, M, H, W). A hole is a background region of at most `max_hole_area`
    pixels; a sprinkle a foreground region of at most `max_sprinkle_area` pixels. Flipped
    logits are set 10 beyond the threshold so later thresholding is unambiguous.
    """
    import torch

    out = mask_logits
    flat = mask_logits.flatten(0, 1).unsqueeze(1)  # (B*M, 1, H, W)
    if max_hole_area > 0:
        labels, areas = connected_components(flat <= threshold)
        is_hole = ((labels > 0) & (areas <= max_hole_area)).reshape_as(out)
        out = torch.where(is_hole, threshold + 10.0, out)
    if max_sprinkle_area > 0:
        labels, areas = connected_components(flat > threshold)
        is_speck = ((labels > 0) & (areas <= max_sprinkle_area)).reshape_as(out)
        out = torch.where(is_speck, threshold - 10.0, out)
    return out


def fill_holes(mask_logits: Tensor, max_area: int) -> Tensor:
    """Video post-processing: background holes of at most `max_area` pixels become
    foreground with a small positive logit (0.1), so only the binary mask changes."""
    import torch

    flat = mask_logits.flatten(0, 1).unsqueeze(1)
    labels, areas = connected_components(flat <= 0)
    is_hole = ((labels > 0) & (areas <= max_area)).reshape_as(mask_logits)
    return torch.where(is_hole, torch.full_like(mask_logits, 0.1), mask_logits)
