"""Position encodings: sinusoidal (image features, memories) and random Fourier (prompts)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class PositionEmbeddingSine(nn.Module):
    """The DETR sine/cosine encoding of normalised (y, x) positions of a feature map."""

    def __init__(self, num_pos_feats: int, temperature: float = 10000.0) -> None:
        super().__init__()
        if num_pos_feats % 2:
            raise ValueError("num_pos_feats must be even (half for y, half for x)")
        self.num_pos_feats = num_pos_feats // 2
        self.temperature = temperature
        self.scale = 2 * math.pi
        self._cache: dict[tuple[int, int, torch.device], Tensor] = {}

    def _encode(self, h: int, w: int, device: torch.device) -> Tensor:
        eps = 1e-6
        y = torch.arange(1, h + 1, dtype=torch.float32, device=device)
        x = torch.arange(1, w + 1, dtype=torch.float32, device=device)
        y = (y / (y[-1] + eps) * self.scale).view(h, 1).expand(h, w)
        x = (x / (x[-1] + eps) * self.scale).view(1, w).expand(h, w)
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)

        def interleave(t: Tensor) -> Tensor:
            t = t[..., None] / dim_t  # (H, W, F)
            return torch.stack((t[..., 0::2].sin(), t[..., 1::2].cos()), dim=-1).flatten(-2)

        return torch.cat((interleave(y), interleave(x)), dim=-1).permute(2, 0, 1)  # (C, H, W)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Encoding for a (B, C, H, W) map, returned as (B, num_pos_feats, H, W)."""
        b, _, h, w = x.shape
        key = (h, w, x.device)
        if key not in self._cache:
            self._cache[key] = self._encode(h, w, x.device)
        return self._cache[key].unsqueeze(0).expand(b, -1, -1, -1).to(x.dtype)


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of (x, y) in [0, 1]: the prompt encoder's positions."""

    def __init__(self, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        scale = 1.0 if scale is None or scale <= 0.0 else scale
        self.register_buffer(
            "positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats))
        )

    def _pe_encoding(self, coords: Tensor) -> Tensor:
        coords = 2 * coords - 1  # [0, 1] -> [-1, 1]
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> Tensor:
        """Dense encoding of an (H, W) grid of pixel centres, as (C, H, W)."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        x = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
        return self._pe_encoding(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: Tensor, image_size: tuple[int, int]) -> Tensor:
        """Encode pixel coordinates (..., 2) as (x, y) of an image of size (H, W)."""
        coords = coords.clone()
        coords[..., 0] = coords[..., 0] / image_size[1]
        coords[..., 1] = coords[..., 1] / image_size[0]
        return self._pe_encoding(coords.to(torch.float))


def sine_encoding_1d(positions: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Sine/cosine encoding of scalar positions (N,) -> (N, dim): temporal distances."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * (dim_t // 2) / half)
    angles = positions.unsqueeze(-1) / dim_t
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
