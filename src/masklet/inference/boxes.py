"""Boxes of masks and box non-maximum suppression, batched in torch (no torchvision)."""

from __future__ import annotations

import torch
from torch import Tensor


def masks_to_boxes(masks: Tensor) -> Tensor:
    """(N, H, W) boolean masks -> (N, 4) int64 boxes x0, y0, x1, y1 with inclusive ends;
    [0, 0, 0, 0] for an empty mask."""
    if masks.numel() == 0:
        return torch.zeros(masks.shape[0], 4, dtype=torch.long, device=masks.device)
    n, h, w = masks.shape
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N, H), (N, W)
    ys, xs = torch.arange(h, device=masks.device), torch.arange(w, device=masks.device)
    y1 = torch.where(rows, ys, -1).amax(dim=1)
    y0 = torch.where(rows, ys, h).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1)
    x0 = torch.where(cols, xs, w).amin(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1)
    empty = ~rows.any(dim=1)
    return torch.where(empty[:, None], torch.zeros_like(boxes), boxes)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N, 4) x (M, 4) boxes x0, y0, x1, y1 -> (N, M) intersection over union."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def box_nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first.

    A box is kept when no kept box with a higher score (ties: the earlier one) overlaps it
    by more than `iou_threshold`. Computed for all boxes at once: the kept set is the
    fixed point of "kept = suppressed by no kept predecessor", reached after as many
    rounds as the longest chain of suppressions (few), with no loop over the boxes.
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order].float()
    suppresses = torch.triu(box_iou(b, b) > iou_threshold, diagonal=1)  # earlier i suppresses later j
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    while True:
        new = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(new, keep):
            return order[keep]
        keep = new
