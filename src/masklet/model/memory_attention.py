"""Memory attention: the current frame's tokens attend to themselves and to the memory bank.

Both attentions use 2-D axial rotary position encoding (RoPE) on the spatial tokens.
Keys may hold several memory frames (the rotation repeats per frame) followed by object
pointer tokens, which carry no spatial position and are left unrotated. In SAM 2 a
memory frame is a map the size of the current frame; in EdgeTAM it is compressed by the
spatial perceiver to global latents (unrotated) followed by a small grid of spatial
latents, rotated by their position on that grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import MemoryAttentionConfig, SpatialPerceiverConfig
from .common import Attention


def axial_rope_frequencies(dim: int, width: int, height: int, theta: float = 10000.0) -> Tensor:
    """Rotations (width*height, dim/2, 2) as (cos, sin): the first half of the channel
    pairs turn with x, the second half with y."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(width * height, dtype=torch.float32)
    t_x, t_y = t % width, torch.div(t, width, rounding_mode="floor")
    angles = torch.cat([torch.outer(t_x, freqs), torch.outer(t_y, freqs)], dim=-1)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def apply_rope(x: Tensor, freqs: Tensor) -> Tensor:
    """Rotate channel pairs of (B, h, N, c) by `freqs`, tiled when N is a multiple of it.

    Each pair (a, b) is the complex number a + ib times cos + i sin, written out in real
    arithmetic (an exported graph has no complex numbers)."""
    freqs = freqs.repeat(x.shape[-2] // freqs.shape[0], 1, 1)  # (N, c/2, 2)
    a, b = x.float().reshape(*x.shape[:-1], -1, 2).unbind(-1)  # (B, h, N, c/2) each
    cos, sin = freqs.unbind(-1)
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(3).type_as(x)


class RoPEAttention(Attention):
    """Attention with axial RoPE on queries and on the first keys (the spatial ones).

    `k_grid`: memory frames are `k_global` unrotated tokens followed by a k_grid x k_grid
    grid rotated by its own positions (EdgeTAM's compressed memories); None: each memory
    frame is a grid the size of the queries' (SAM 2).
    """

    def __init__(
        self, *args: object, rope_theta: float = 10000.0, rope_k_repeat: bool = False, k_grid: int | None = None,
        k_global: int = 0, **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rope_theta = rope_theta
        self.rope_k_repeat = rope_k_repeat  # keys span several frames of the query's size
        self.k_grid = k_grid
        self.k_global = k_global
        self._freqs: dict[tuple[int, torch.device], Tensor] = {}

    def frequencies(self, num_tokens: int, device: torch.device) -> Tensor:
        key = (num_tokens, device)
        if key not in self._freqs:
            side = int(round(num_tokens**0.5))
            if side * side != num_tokens:
                raise ValueError(f"RoPE needs a square token grid, got {num_tokens} tokens")
            dim = self.internal_dim // self.num_heads
            self._freqs[key] = axial_rope_frequencies(dim, side, side, self.rope_theta).to(device)
        return self._freqs[key]

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0, key_pool: int = 1) -> Tensor:
        v = self.split_heads(self.v_proj(v))
        q, k = self.rotated(q, k, num_k_exclude_rope)
        num_rope = k.shape[-2] - num_k_exclude_rope
        if key_pool > 1 and self.k_grid is None and num_rope > 0:
            return self._attend_pooled(q, k[:, :, :num_rope], k[:, :, num_rope:], v, key_pool)
        return self.attend(q, k, v)

    def rotated(self, q: Tensor, k: Tensor, num_k_exclude_rope: int = 0) -> tuple[Tensor, Tensor]:
        """Queries (B, Nq, C) and keys (B, Nk, C_kv) projected, split into heads and rotated."""
        q, k = self.split_heads(self.q_proj(q)), self.split_heads(self.k_proj(k))
        freqs = self.frequencies(q.shape[-2], q.device)
        if self.k_grid is not None:
            return apply_rope(q, freqs), self._rotate_compressed(k, k.shape[-2] - num_k_exclude_rope)
        self._check_lengths(q, k)
        num_rope = k.shape[-2] - num_k_exclude_rope
        if num_rope > 0:
            k = torch.cat([apply_rope(k[:, :, :num_rope], freqs), k[:, :, num_rope:]], dim=2)
        return apply_rope(q, freqs), k

    def weights(self, q: Tensor, k: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        """The exact attention probabilities (B, heads, Nq, Nk) that forward (key_pool 1) uses."""
        q, k = self.rotated(q, k, num_k_exclude_rope)
        return torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)

    def _check_lengths(self, q: Tensor, k: Tensor) -> None:
        if q.shape[-2] != k.shape[-2] and not self.rope_k_repeat:
            raise ValueError("keys and queries differ in length but rope_k_repeat is off")

    def _rotate_compressed(self, k: Tensor, num_memory: int) -> Tensor:
        """Rotate the spatial latents of each compressed memory frame by their grid position."""
        if num_memory == 0:
            return k
        b, h, _, c = k.shape
        per_frame = self.k_global + self.k_grid * self.k_grid
        frames = k[:, :, :num_memory].reshape(b, h, num_memory // per_frame, per_frame, c)
        spatial = apply_rope(frames[:, :, :, self.k_global :].reshape(b, h, -1, c), self.frequencies(self.k_grid**2, k.device))
        frames = torch.cat([frames[:, :, :, : self.k_global], spatial.reshape(b, h, -1, self.k_grid**2, c)], dim=3)
        return torch.cat([frames.reshape(b, h, num_memory, c), k[:, :, num_memory:]], dim=2)

    def _attend_pooled(self, q: Tensor, k_rot: Tensor, k_ptr: Tensor, v: Tensor, pool: int) -> Tensor:
        """Approximate attention to memory frames averaged over pool x pool patches (after RoPE).

        A pooled key stands for pool^2 keys, so its score gets + log(pool^2): a patch's
        attention mass is pool^2 x exp(its mean score), close to the exact sum when the
        patch's scores are alike. The bias rides in one extra channel (1 in the queries, the
        bias in the keys, 0 in the values) so the fused attention kernel still runs.
        """
        b, h, num_rope, c = k_rot.shape
        side = int(round(q.shape[-2] ** 0.5))
        frames = num_rope // (side * side)

        def pooled(x: Tensor) -> Tensor:  # (B, h, F*side*side, c) -> (B, h, F*(side/pool)^2, c)
            x = x.reshape(b * h * frames, side, side, x.shape[-1]).permute(0, 3, 1, 2)
            x = F.avg_pool2d(x, pool, ceil_mode=True).permute(0, 2, 3, 1)
            return x.reshape(b, h, -1, x.shape[-1])

        k_pooled, v_pooled = pooled(k_rot), pooled(v[:, :, :num_rope])
        scale = c**-0.5
        bias = math.log(pool * pool) / scale
        k = torch.cat([torch.cat([k_pooled, k_pooled.new_full((*k_pooled.shape[:3], 1), bias)], -1),
                       F.pad(k_ptr, (0, 1))], dim=2)
        v = F.pad(torch.cat([v_pooled, v[:, :, num_rope:]], dim=2), (0, 1))
        return self.attend(F.pad(q, (0, 1), value=1.0), k, v, scale=scale)


class MemoryAttentionLayer(nn.Module):
    """Pre-norm: RoPE self-attention, RoPE cross-attention to memories, feed-forward."""

    def __init__(self, cfg: MemoryAttentionConfig, kv_in_dim: int, compressed: SpatialPerceiverConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.self_attn = RoPEAttention(d, cfg.num_heads, dropout=cfg.dropout, rope_theta=cfg.rope_theta)
        layout = {} if compressed is None else {"k_grid": compressed.grid, "k_global": compressed.num_latents}
        self.cross_attn_image = RoPEAttention(
            d, cfg.num_heads, dropout=cfg.dropout, kv_in_dim=kv_in_dim, rope_theta=cfg.rope_theta, rope_k_repeat=True, **layout
        )
        self.linear1 = nn.Linear(d, cfg.dim_feedforward)
        self.linear2 = nn.Linear(cfg.dim_feedforward, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.activation = nn.ReLU()

    def forward(
        self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor, num_k_exclude_rope: int = 0, key_pool: int = 1
    ) -> Tensor:
        x = self.norm1(tgt)
        q = x + query_pos if self.cfg.pos_enc_at_attn else x
        tgt = tgt + self.dropout(self.self_attn(q, q, x))

        x = self.norm2(tgt)
        q = x + query_pos if self.cfg.pos_enc_at_cross_attn_queries else x
        k = memory + pos if self.cfg.pos_enc_at_cross_attn_keys else memory
        tgt = tgt + self.dropout(self.cross_attn_image(q, k, memory, num_k_exclude_rope=num_k_exclude_rope, key_pool=key_pool))

        x = self.norm3(tgt)
        return tgt + self.dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class MemoryAttention(nn.Module):
    """A stack of memory attention layers and a final LayerNorm (batch-first tensors).

    `compressed`: the memories come from a spatial perceiver with this layout (EdgeTAM).
    """

    def __init__(self, cfg: MemoryAttentionConfig, kv_in_dim: int, compressed: SpatialPerceiverConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(MemoryAttentionLayer(cfg, kv_in_dim, compressed) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self, curr: Tensor, memory: Tensor, curr_pos: Tensor, memory_pos: Tensor, num_obj_ptr_tokens: int = 0, key_pool: int = 1
    ) -> Tensor:
        """curr, curr_pos: (B, HW, C); memory, memory_pos: (B, M, C_mem). Returns (B, HW, C).

        key_pool > 1 (a tracker's speed option) cross-attends to pooled memories, approximately.
        """
        x = curr + 0.1 * curr_pos if self.cfg.pos_enc_at_input else curr
        for layer in self.layers:
            x = layer(x, memory, pos=memory_pos, query_pos=curr_pos, num_k_exclude_rope=num_obj_ptr_tokens, key_pool=key_pool)
        return self.norm(x)
