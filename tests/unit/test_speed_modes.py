"""Speed modes: the exact default, and the fast mode's pooled memory attention."""

from __future__ import annotations

import pytest
import torch

from masklet.build import tracker_options
from masklet.config import SPEED_MODES, MemoryAttentionConfig, TrackerOptions
from masklet.model.memory_attention import RoPEAttention


def _cross_attention() -> RoPEAttention:
    torch.manual_seed(0)
    return RoPEAttention(256, 1, kv_in_dim=64, rope_k_repeat=True).eval()


def _smooth_memory(frames: int, side: int, pointers: int) -> torch.Tensor:
    # Memories vary slowly across the grid, as the memory encoder's stride-16 maps do.
    coarse = torch.randn(1, 64, frames * side // 8, side // 8)
    fine = torch.nn.functional.interpolate(coarse, scale_factor=8, mode="bilinear", align_corners=False)
    spatial = fine.reshape(1, 64, frames, side, side).permute(0, 2, 3, 4, 1).reshape(1, frames * side * side, 64)
    return torch.cat([spatial, torch.randn(1, pointers, 64)], dim=1)


@torch.inference_mode()
def test_pooled_keys_approximate_exact_attention() -> None:
    attn = _cross_attention()
    q = torch.randn(1, 32 * 32, 256)
    memory = _smooth_memory(frames=3, side=32, pointers=8)
    exact = attn(q, memory, memory, num_k_exclude_rope=8)
    pooled = attn(q, memory, memory, num_k_exclude_rope=8, key_pool=2)
    rel = (pooled - exact).norm() / exact.norm()
    assert rel < 0.05, rel
    # The log(pool^2) bias matters: without it the pointer tokens would weigh 4x too much.
    attn_no_ptr = attn(q, memory[:, :-8], memory[:, :-8], key_pool=2)
    assert not torch.allclose(attn_no_ptr, pooled)


@torch.inference_mode()
def test_key_pool_one_is_the_exact_path() -> None:
    attn = _cross_attention()
    q = torch.randn(1, 16 * 16, 256)
    memory = _smooth_memory(frames=2, side=16, pointers=4)
    assert torch.equal(attn(q, memory, memory, num_k_exclude_rope=4), attn(q, memory, memory, num_k_exclude_rope=4, key_pool=1))


def test_speed_modes_are_tracker_options_not_network_config() -> None:
    assert tracker_options().key_pool == 1 and tracker_options("fast").key_pool == 2
    assert tracker_options("fast", fill_hole_area=8) == TrackerOptions(fill_hole_area=8, key_pool=2)
    assert set(SPEED_MODES) >= {"exact", "fast"}
    with pytest.raises(ValueError, match="speed must be one of"):
        tracker_options("ludicrous")
    assert "key_pool" not in MemoryAttentionConfig.__dataclass_fields__  # one source of truth
