"""J and F on masks whose values are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from masklet.eval.metrics import boundary_accuracy, boundary_map, region_similarity


def rect(shape, y0, x0, y1, x1) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def test_region_similarity() -> None:
    a, b = rect((50, 50), 0, 0, 10, 10), rect((50, 50), 0, 5, 10, 15)
    assert region_similarity(a, b) == pytest.approx(50 / 150)
    assert region_similarity(a, a) == 1.0
    assert region_similarity(np.zeros((5, 5)), np.zeros((5, 5))) == 1.0
    assert region_similarity(a, np.zeros_like(a)) == 0.0
    void = rect((50, 50), 0, 10, 10, 15)  # the part of b outside a, ignored
    assert region_similarity(a, b, void) == pytest.approx(50 / 100)


def test_boundary_is_one_pixel_wide() -> None:
    b = boundary_map(rect((20, 20), 5, 5, 10, 12))
    assert b.sum() > 0 and not b[7, 8]  # interior pixels are not boundary
    assert b[9, 11]  # the last row/column of the shape are


def test_boundary_accuracy_tolerance() -> None:
    shape = (100, 100)  # diagonal 141.4 -> tolerance ceil(1.13) = 2 pixels
    gt = rect(shape, 30, 30, 60, 70)
    assert boundary_accuracy(gt, gt) == 1.0
    assert boundary_accuracy(rect(shape, 30, 32, 60, 72), gt) == 1.0  # 2 px off: within tolerance
    assert boundary_accuracy(rect(shape, 32, 32, 62, 72), gt) < 1.0  # corners 2.8 px off: not all
    assert boundary_accuracy(rect(shape, 35, 35, 65, 75), gt) < 0.5  # 5 px off: mostly outside
    assert boundary_accuracy(rect(shape, 0, 0, 10, 10), gt) == 0.0  # far apart
    assert boundary_accuracy(np.zeros(shape), gt) == 0.0
    assert boundary_accuracy(np.zeros(shape), np.zeros(shape)) == 1.0


def test_boundary_accuracy_with_a_spurious_region() -> None:
    shape = (100, 100)
    gt = rect(shape, 10, 10, 40, 40)
    extra = rect(shape, 70, 70, 80, 80)
    n_gt, n_extra = boundary_map(gt).sum(), boundary_map(extra).sum()
    precision = n_gt / (n_gt + n_extra)  # every gt boundary pixel matched, the extra ones not
    expected = 2 * precision / (precision + 1)  # recall = 1
    assert boundary_accuracy(gt | extra, gt) == pytest.approx(expected)
