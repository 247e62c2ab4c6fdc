"""FrameMasks: an object's mask resized alone equals its row of all of them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from masklet.inference import FrameMasks


@pytest.mark.parametrize("non_overlap", [False, True])
def test_frame_masks_resize_one_object_alike(non_overlap: bool) -> None:
    torch.manual_seed(0)
    low = torch.randn(3, 1, 16, 16)
    whole = FrameMasks(4, [1, 2, 5], low, (30, 50), non_overlap).masks
    assert whole.shape == (3, 1, 30, 50)
    expected = F.interpolate(low, size=(30, 50), mode="bilinear", align_corners=False)
    if non_overlap:  # a pixel belongs to one object at most
        assert int(((whole > 0).sum(0) > 1).sum()) == 0 and not torch.equal(whole, expected)
    else:
        torch.testing.assert_close(whole, expected)
    for i in range(3):
        torch.testing.assert_close(FrameMasks(4, [1, 2, 5], low, (30, 50), non_overlap).mask(i), whole[i])
