"""Connected components of binary masks on the CPU, in plain torch (no custom extension).

Labels spread as the minimum index over each pixel's 8 neighbours, with pointer jumping
(each label looks up its own label) so long thin shapes converge in few rounds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def connected_components(masks: Tensor) -> tuple[Tensor, Tensor]:
    """Label 8-connected foreground regions of (N, 1, H, W) boolean masks.

    Returns labels (N, 1, H, W), int64, 0 for background and a region id otherwise, and
    areas (N, 1, H, W), the pixel count of each pixel's region (0 on background).
    """
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"expected masks of shape (N, 1, H, W), got {tuple(masks.shape)}")
    n, _, h, w = masks.shape
    fg = masks.bool()
    big = n * h * w + 1
    index = torch.arange(1, n * h * w + 1, device=masks.device, dtype=torch.float64).view(n, 1, h, w)
    labels = torch.where(fg, index, torch.full_like(index, big))
    flat_fg = fg.flatten()
    while True:
        # Minimum over the 3x3 neighbourhood, kept to foreground pixels.
        spread = -F.max_pool2d(-labels, kernel_size=3, stride=1, padding=1)
        spread = torch.where(fg, torch.minimum(spread, labels), labels)
        # Pointer jumping: adopt the label of the pixel your label points at.
        flat = spread.flatten()
        target = (flat[flat_fg] - 1).long()
        flat = flat.clone()
        flat[flat_fg] = torch.minimum(flat[flat_fg], flat[target])
        spread = flat.view_as(labels)
        if torch.equal(spread, labels):
            break
        labels = spread
    labels = torch.where(fg, labels, torch.zeros_like(labels)).long()
    counts = torch.bincount(labels.flatten(), minlength=1)
    areas = torch.where(fg, counts[labels], torch.zeros_like(labels))
    return labels, areas


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
