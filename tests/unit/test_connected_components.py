"""Connected components and hole/sprinkle removal, checked against a plain flood fill."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from masklet.inference.connected_components import connected_components, fill_holes, fill_holes_and_sprinkles


def flood_fill_areas(mask: np.ndarray) -> np.ndarray:
    """Area of each pixel's 8-connected region (0 on background), by BFS."""
    h, w = mask.shape
    areas = np.zeros((h, w), dtype=np.int64)
    seen = np.zeros((h, w), dtype=bool)
    for sy in range(h):
        for sx in range(w):
            if not mask[sy, sx] or seen[sy, sx]:
                continue
            region, queue = [], deque([(sy, sx)])
            seen[sy, sx] = True
            while queue:
                y, x = queue.popleft()
                region.append((y, x))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            queue.append((ny, nx))
            for y, x in region:
                areas[y, x] = len(region)
    return areas


@pytest.mark.parametrize("density", [0.3, 0.5, 0.6])
def test_matches_flood_fill_on_random_masks(density: float) -> None:
    rng = np.random.default_rng(int(density * 10))
    masks = rng.random((3, 1, 40, 50)) < density
    labels, areas = connected_components(torch.from_numpy(masks))
    for i in range(3):
        np.testing.assert_array_equal(areas[i, 0].numpy(), flood_fill_areas(masks[i, 0]))
        # Same label <=> same region: pixels of one label share one area, labels count regions.
        lab = labels[i, 0].numpy()
        assert (lab > 0).sum() == masks[i, 0].sum()


def test_spiral_converges() -> None:
    n = 64
    spiral = np.zeros((n, n), dtype=bool)
    y, x, dy, dx = 0, 0, 0, 1
    lo, hi = 0, n - 1
    for _ in range(n * n // 2):
        spiral[y, x] = True
        ny, nx = y + 2 * dy, x + 2 * dx
        if not (lo <= ny <= hi and lo <= nx <= hi) or spiral[ny, nx]:
            dy, dx = dx, -dy
            if dy == 0 and dx == 1:
                lo, hi = lo + 2, hi - 2
        y, x = y + dy, x + dx
        if not (0 <= y < n and 0 <= x < n):
            break
    labels, areas = connected_components(torch.from_numpy(spiral)[None, None])
    np.testing.assert_array_equal(areas[0, 0].numpy(), flood_fill_areas(spiral))


def test_fills_small_holes_and_removes_small_specks() -> None:
    logits = torch.full((1, 1, 32, 32), -5.0)
    logits[..., 4:20, 4:20] = 5.0
    logits[..., 10:12, 10:12] = -5.0  # a 4-pixel hole
    logits[..., 28, 28] = 5.0  # a 1-pixel speck
    out = fill_holes_and_sprinkles(logits, 0.0, max_hole_area=10, max_sprinkle_area=5)
    assert (out[..., 10:12, 10:12] > 0).all()
    assert out[..., 28, 28] < 0
    assert (out[..., 4:20, 4:20] > 0).all() and (out[..., 0, :] < 0).all()
    untouched = fill_holes_and_sprinkles(logits, 0.0, max_hole_area=3, max_sprinkle_area=0)
    torch.testing.assert_close(untouched, logits)


def test_video_hole_filling_uses_a_small_positive_logit() -> None:
    logits = torch.full((2, 1, 16, 16), -3.0)
    logits[0, :, 2:10, 2:10] = 4.0
    logits[0, :, 5, 5] = -2.0  # a 1-pixel hole
    logits[0, :, 4:6, 8] = -2.0  # a 2-pixel hole
    out = fill_holes(logits, max_area=1)
    assert out[0, 0, 5, 5] == pytest.approx(0.1)
    assert (out[0, 0, 4:6, 8] == -2.0).all()  # larger than max_area: kept
    assert torch.equal(out[1], logits[1])  # the outer background is no hole
    assert torch.equal(out[0, 0, 0], logits[0, 0, 0])
