"""The memory encoder: a frame's features fused with its predicted mask, as a memory."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import MemoryEncoderConfig
from .common import LayerNorm2d
from .position_encoding import PositionEmbeddingSine


class MaskDownSampler(nn.Module):
    """Strided convolutions taking a (B, 1, H, W) mask down to the feature grid."""

    def __init__(self, embed_dim: int, kernel_size: int, stride: int, padding: int, total_stride: int = 16) -> None:
        super().__init__()
        num_layers = int(math.log2(total_stride) // math.log2(stride))
        layers: list[nn.Module] = []
        in_ch = 1
        for _ in range(num_layers):
            out_ch = in_ch * stride**2
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding), LayerNorm2d(out_ch), nn.GELU()]
            in_ch = out_ch
        layers.append(nn.Conv2d(in_ch, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: depth-wise 7x7 conv, LayerNorm, MLP, layer scale, residual."""

    def __init__(self, dim: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, dim: int, num_layers: int, kernel_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim, kernel_size) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


@dataclass
class Memory:
    features: Tensor  # (B, C_mem, h, w)
    pos_enc: Tensor  # (B, C_mem, h, w)


class MemoryEncoder(nn.Module):
    """pix_feat (B, C, h, w) + mask (B, 1, H, W) -> memory features and their position."""

    def __init__(self, in_dim: int, cfg: MemoryEncoderConfig) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim, cfg.mask_kernel_size, cfg.mask_stride, cfg.mask_padding)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(in_dim, cfg.fuser_num_layers, cfg.fuser_kernel_size)
        self.position_encoding = PositionEmbeddingSine(cfg.out_dim)
        self.out_proj = nn.Conv2d(in_dim, cfg.out_dim, kernel_size=1) if cfg.out_dim != in_dim else nn.Identity()

    def forward(self, pix_feat: Tensor, masks: Tensor, skip_mask_sigmoid: bool = False) -> Memory:
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        x = self.pix_feat_proj(pix_feat.to(masks.device)) + self.mask_downsampler(masks)
        x = self.out_proj(self.fuser(x))
        return Memory(features=x, pos_enc=self.position_encoding(x))
