"""The image encoder: a trunk (Hiera for SAM 2, RepViT for EdgeTAM) + FPN neck, producing
multi-scale frame embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import HieraConfig, NeckConfig, RepViTConfig
from .hiera import Hiera
from .neck import FpnNeck
from .repvit import RepViT


@dataclass
class ImageFeatures:
    """Multi-scale features of a batch of images, finest level first."""

    backbone_fpn: list[Tensor]  # [(B, 256, H/4, W/4), (B, 256, H/8, W/8), (B, 256, H/16, W/16)]
    vision_pos_enc: list[Tensor]  # matching sine position encodings

    @property
    def vision_features(self) -> Tensor:
        return self.backbone_fpn[-1]  # (B, 256, H/16, W/16): what the decoder and memory use


class ImageEncoder(nn.Module):
    """Trunk then neck; the coarsest `scalp` levels are dropped (SAM 2 uses strides 4-16)."""

    def __init__(self, trunk: HieraConfig | RepViTConfig, neck: NeckConfig) -> None:
        super().__init__()
        self.trunk = RepViT(trunk) if isinstance(trunk, RepViTConfig) else Hiera(trunk)
        self.neck = FpnNeck(trunk.backbone_channel_list, neck.d_model, neck.fpn_top_down_levels)
        self.scalp = neck.scalp

    def forward(self, images: Tensor) -> ImageFeatures:
        if isinstance(self.trunk, RepViT):
            # A CNN's convolutions run ~25% faster channels-last (oneDNN's layout), the
            # neck's 1x1 convolutions too; the same function.
            images = images.contiguous(memory_format=torch.channels_last)
        features, positions = self.neck(self.trunk(images))
        if self.scalp > 0:
            features, positions = features[: -self.scalp], positions[: -self.scalp]
        return ImageFeatures(backbone_fpn=features, vision_pos_enc=positions)
