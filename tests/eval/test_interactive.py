"""Click simulation for the interactive image protocol."""

from __future__ import annotations

import numpy as np
import pytest

import masklet
from masklet.eval.interactive import click_miou, next_click, region_centre


def test_region_centre_is_the_deepest_pixel() -> None:
    m = np.zeros((40, 60), dtype=bool)
    m[10:31, 5:26] = True  # 21x21 square: centre (15, 20)
    assert region_centre(m) == (15, 20)
    ell = np.zeros((50, 50), dtype=bool)
    ell[0:50, 0:10] = True
    ell[40:50, 0:50] = True
    x, y = region_centre(ell)
    assert ell[y, x]  # inside, even for a non-convex shape
    with pytest.raises(ValueError):
        region_centre(np.zeros((3, 3), dtype=bool))


def test_next_click_targets_the_largest_error() -> None:
    gt = np.zeros((50, 50), dtype=bool)
    gt[10:40, 10:40] = True
    pred = np.zeros_like(gt)
    pred[10:40, 10:25] = True  # the right half is missed
    pred[0:3, 45:48] = True  # a small false region
    (x, y), label = next_click(pred, gt)
    assert label == 1 and 25 <= x < 40 and 10 <= y < 40
    pred_big_fp = gt.copy()
    pred_big_fp[42:50, 0:50] = True
    (x, y), label = next_click(pred_big_fp, gt)
    assert label == 0 and y >= 42
    assert next_click(gt, gt) is None


def test_click_miou_runs_on_a_real_photo(tiny_model, truck) -> None:
    gt = np.zeros(truck.shape[:2], dtype=bool)
    gt[600:875, 425:700] = True
    scores = click_miou(masklet.ImagePredictor(tiny_model), [(truck, gt)], clicks=(1, 3))
    assert set(scores) == {1, 3} and all(0.0 <= v <= 1.0 for v in scores.values())
