"""EdgeTAM's 2D spatial perceiver: a memory frame compressed before it is stored.

A memory frame is a (C, h, w) map, 4,096 tokens at 1024 pixels; memory attention over
several of them is what makes SAM 2's tracking slow. The perceiver turns each into two
sets of latents that go through the same stack of layers:

- global latents (learned, 256) cross-attend to the whole frame, its sine position
  encoding added to the keys and values; they carry no position afterwards;
- spatial latents (learned, one per window of a 16 x 16 grid) each cross-attend only to
  their own window of the frame; they keep the window's 2D position (a sine encoding of
  the grid here, and rotary encoding on that grid in memory attention).

Each layer: cross-attention of the latents to the tokens, a feed-forward, then
self-attention among the latents and a second feed-forward, all pre-norm with
residuals. A memory frame becomes num_latents + num_latents_2d tokens (512).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import SpatialPerceiverConfig
from .position_encoding import PositionEmbeddingSine


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    """LayerNorm, widening linear, GELU, linear back (no biases in the linears)."""
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False))


def _attend(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    """Multi-head scaled dot-product attention of (B, N, C) tensors, heads merged back."""
    b, n, c = q.shape

    def split(x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)  # (B, h, N, C/h)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    return out.transpose(1, 2).reshape(b, n, -1)


class LatentCrossAttention(nn.Module):
    """Latents attend to the memory tokens (position, if given, added to keys and values)."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.norm_x = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, latents: Tensor, x: Tensor, pos: Tensor | None = None) -> Tensor:
        q = self.to_q(self.norm_latents(latents))
        k, v = self.to_kv(self.norm_x(x)).chunk(2, dim=-1)
        if pos is not None:
            k, v = k + pos, v + pos
        return self.to_out(_attend(q, k, v, self.heads))


class LatentSelfAttention(nn.Module):
    """The latents attend to each other."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, latents: Tensor) -> Tensor:
        x = self.norm(latents)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        return self.to_out(_attend(self.to_q(x), k, v, self.heads))


class PerceiverLayer(nn.Module):
    """Cross-attention to the tokens and a feed-forward, then self-attention and another."""

    def __init__(self, cfg: SpatialPerceiverConfig) -> None:
        super().__init__()
        self.attn = LatentCrossAttention(cfg.dim, cfg.dim_head, cfg.heads)
        self.ff = feed_forward(cfg.dim, cfg.ff_mult)
        self.self_attn = LatentSelfAttention(cfg.dim, cfg.dim_head, cfg.heads)
        self.self_ff = feed_forward(cfg.dim, cfg.ff_mult)

    def forward(self, latents: Tensor, x: Tensor, pos: Tensor | None = None) -> Tensor:
        latents = latents + self.attn(latents, x, pos)
        latents = latents + self.ff(latents)
        latents = latents + self.self_attn(latents)
        return latents + self.self_ff(latents)


class SpatialPerceiver(nn.Module):
    """A memory frame (B, C, h, w) with its position (B, C, h, w) -> latents (B, N, C) and
    their position (B, N, C): the global latents first (position zero), then the spatial
    ones in raster order of their grid."""

    def __init__(self, cfg: SpatialPerceiverConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.latents = nn.Parameter(torch.zeros(cfg.num_latents, cfg.dim))
        self.latents_2d = nn.Parameter(torch.zeros(cfg.num_latents_2d, cfg.dim))
        self.layers = nn.ModuleList(PerceiverLayer(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.position_encoding = PositionEmbeddingSine(cfg.dim)

    def forward(self, x: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, hw, C)
        latents = self.latents.expand(b, -1, -1)
        token_pos = pos.flatten(2).transpose(1, 2)
        for layer in self.layers:
            latents = layer(latents, tokens, token_pos)
        spatial, spatial_pos = self._spatial(x)
        out = torch.cat([self.norm(latents), self.norm(spatial)], dim=1)
        return out, torch.cat([torch.zeros_like(latents), spatial_pos], dim=1)

    def _spatial(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Each spatial latent over its own window of the map; the grid's sine position."""
        b, c, h, w = x.shape
        g = self.cfg.grid
        win = h // g
        # (B, C, h, w) -> (B * g * g, win * win, C): one row of tokens per window, raster order.
        windows = x.reshape(b, c, g, win, g, win).permute(0, 2, 4, 3, 5, 1).reshape(b * g * g, win * win, c)
        latents = self.latents_2d.reshape(1, g * g, 1, c).expand(b, -1, -1, -1).reshape(b * g * g, 1, c)
        for layer in self.layers:
            latents = layer(latents, windows)
        grid = latents.reshape(b, g, g, c).permute(0, 3, 1, 2)  # (B, C, g, g)
        pos = self.position_encoding(grid).flatten(2).transpose(1, 2)  # (B, g*g, C)
        return grid.flatten(2).transpose(1, 2), pos
