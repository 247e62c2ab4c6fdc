"""FPN neck: 1x1 lateral convolutions to a common width, top-down fusion on chosen levels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .position_encoding import PositionEmbeddingSine


class FpnNeck(nn.Module):
    """Maps trunk outputs (finest first) to d_model-channel maps with position encodings."""

    def __init__(
        self, backbone_channel_list: tuple[int, ...], d_model: int, fpn_top_down_levels: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.position_encoding = PositionEmbeddingSine(d_model)
        # convs[0] serves the coarsest level: the official ordering, kept for the weights.
        self.convs = nn.ModuleList()
        for dim in backbone_channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=1))
            self.convs.append(lateral)
        self.fpn_top_down_levels = tuple(fpn_top_down_levels)

    def forward(self, xs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        n = len(self.convs) - 1
        features: list[Tensor] = [None] * len(xs)  # type: ignore[list-item]
        previous = None
        for level in range(n, -1, -1):  # coarse to fine
            lateral = self.convs[n - level](xs[level])
            if level in self.fpn_top_down_levels and previous is not None:
                top_down = F.interpolate(previous.to(torch.float32), scale_factor=2.0, mode="nearest")
                previous = lateral + top_down.to(lateral.dtype)
            else:
                previous = lateral
            features[level] = previous
        positions = [self.position_encoding(f) for f in features]
        return features, positions
