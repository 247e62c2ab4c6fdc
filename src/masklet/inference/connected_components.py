"""Connected components of binary masks on the CPU, in plain torch (no custom extension).

Pixels are grouped into horizontal runs; runs touching across neighbouring rows (8-
connectivity: a run touches the one below if they overlap or meet at a corner) are
joined by a union-find done for all of them at once: each round every edge hooks the
larger root under the smaller, then pointers jump until every run points at its root.
The rounds grow like the log of a region's length, not with its length, so a spiral
costs as little as a disc.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _roots(parent: Tensor) -> Tensor:
    """Follow parent pointers until each entry points at its root."""
    while True:
        jumped = parent[parent]
        if torch.equal(jumped, parent):
            return parent
        parent = jumped


def connected_components(masks: Tensor) -> tuple[Tensor, Tensor]:
    """Label 8-connected foreground regions of (N, 1, H, W) boolean masks.

    Returns labels (N, 1, H, W), int64, 0 for background and a region id otherwise, and
    areas (N, 1, H, W), the pixel count of each pixel's region (0 on background).
    """
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"expected masks of shape (N, 1, H, W), got {tuple(masks.shape)}")
    n, _, h, w = masks.shape
    fg = masks.bool().reshape(n * h, w).cpu()  # one row of pixels per line
    zero = torch.zeros(n * h, 1, dtype=torch.bool)
    starts = fg & ~torch.cat([zero, fg[:, :-1]], dim=1)
    run_of = (starts.flatten().cumsum(0) - 1).view(n * h, w)  # run index of each foreground pixel
    n_runs = int(starts.sum())
    labels = torch.zeros(n * h, w, dtype=torch.int64)
    areas = torch.zeros(n * h, w, dtype=torch.int64)
    if n_runs == 0:
        return labels.view(n, 1, h, w).to(masks.device), areas.view(n, 1, h, w).to(masks.device)
    # Edges between a pixel and its lower-left, lower and lower-right neighbours (same image).
    not_last = (torch.arange(n * h) % h != h - 1)[:-1, None]
    upper, lower, up_run, low_run = fg[:-1], fg[1:], run_of[:-1], run_of[1:]
    pairs = [(upper & lower & not_last, up_run, low_run)]
    pairs.append((upper[:, 1:] & lower[:, :-1] & not_last, up_run[:, 1:], low_run[:, :-1]))
    pairs.append((upper[:, :-1] & lower[:, 1:] & not_last, up_run[:, :-1], low_run[:, 1:]))
    a = torch.cat([u[m] for m, u, _ in pairs])
    b = torch.cat([v[m] for m, _, v in pairs])
    if len(a):
        key = torch.unique(a * n_runs + b)  # runs overlap over many columns: one edge each
        a, b = key // n_runs, key % n_runs
    parent = torch.arange(n_runs)
    while len(a):
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            break
        a, b, ra, rb = a[differ], b[differ], ra[differ], rb[differ]
        parent = parent.scatter_reduce(0, torch.maximum(ra, rb), torch.minimum(ra, rb), reduce="amin")
        parent = _roots(parent)
    run_length = torch.bincount(run_of[fg], minlength=n_runs)
    region_area = torch.bincount(parent, weights=run_length.double(), minlength=n_runs).long()
    labels[fg] = parent[run_of[fg]] + 1
    areas[fg] = region_area[parent][run_of[fg]]
    return labels.view(n, 1, h, w).to(masks.device), areas.view(n, 1, h, w).to(masks.device)


def fill_holes_and_sprinkles(
    mask_logits: Tensor, threshold: float, max_hole_area: float, max_sprinkle_area: float
) -> Tensor:
    """Flip small background holes to foreground and small foreground specks to background.

    mask_logits: (B, M, H, W). A hole is a background region of at most `max_hole_area`
    pixels; a sprinkle a foreground region of at most `max_sprinkle_area` pixels. Flipped
    logits are set 10 beyond the threshold so later thresholding is unambiguous.
    """
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
    flat = mask_logits.flatten(0, 1).unsqueeze(1)
    labels, areas = connected_components(flat <= 0)
    is_hole = ((labels > 0) & (areas <= max_area)).reshape_as(mask_logits)
    return torch.where(is_hole, torch.full_like(mask_logits, 0.1), mask_logits)
