"""Shapes and properties of the blocks: trunk, windows, query pooling, position encodings."""

from __future__ import annotations

import math

import pytest
import torch

from masklet.config import HieraConfig, MaskDecoderConfig
from masklet.model.common import Attention, LayerNorm2d
from masklet.model.hiera import Hiera, MultiScaleBlock, window_partition, window_unpartition
from masklet.model.mask_decoder import MaskDecoder
from masklet.model.memory_attention import MemoryAttention, apply_rope, axial_rope_frequencies
from masklet.model.memory_encoder import MemoryEncoder
from masklet.model.position_encoding import PositionEmbeddingRandom, PositionEmbeddingSine
from masklet.model.prompt_encoder import PromptEncoder
from masklet.presets import HIERA_SIZES, PRESETS

torch.manual_seed(0)


@pytest.mark.parametrize("size", list(HIERA_SIZES))
def test_hiera_stage_shapes(size: str) -> None:
    cfg = HIERA_SIZES[size]
    with torch.device("meta"):
        trunk = Hiera(cfg)
        outs = trunk(torch.empty(1, 3, 512, 512))
    dims = cfg.stage_dims
    assert [tuple(o.shape) for o in outs] == [(1, dims[i], 128 >> i, 128 >> i) for i in range(4)]
    assert len(trunk.blocks) == sum(cfg.stages)


def test_tiny_trunk_runs_on_a_non_square_grid() -> None:
    trunk = Hiera(HIERA_SIZES["t"]).eval()
    with torch.no_grad():
        outs = trunk(torch.randn(1, 3, 256, 384))
    assert [o.shape[-2:] for o in outs] == [(64, 96), (32, 48), (16, 24), (8, 12)]
    assert all(torch.isfinite(o).all() for o in outs)


def test_window_partition_round_trip_with_padding() -> None:
    x = torch.randn(2, 13, 17, 5)
    windows, padded = window_partition(x, 4)
    assert windows.shape == (2 * 4 * 5, 4, 4, 5) and padded == (16, 20)
    assert torch.equal(window_unpartition(windows, 4, padded, (13, 17)), x)
    # The padding is zeros, the content is the image's top-left 4x4 tile.
    assert torch.equal(windows[0], x[0, :4, :4])


def test_query_pooling_halves_resolution_and_widens() -> None:
    block = MultiScaleBlock(dim=8, dim_out=16, num_heads=2, mlp_ratio=4.0, q_stride=(2, 2), window_size=4)
    y = block(torch.randn(1, 16, 16, 8))
    assert y.shape == (1, 8, 8, 16)


def test_query_pooling_is_a_max_over_2x2() -> None:
    block = MultiScaleBlock(dim=4, dim_out=8, num_heads=1, mlp_ratio=1.0, q_stride=(2, 2), window_size=0)
    x = torch.randn(1, 4, 4, 4)
    normed = block.norm1(x)
    shortcut = block.proj(normed).reshape(1, 2, 2, 2, 2, 8).amax(dim=(2, 4))  # 2x2 max pool
    expected_shortcut = shortcut
    with torch.no_grad():
        block.attn.proj.weight.zero_()
        block.attn.proj.bias.zero_()
        for p in block.mlp.parameters():
            p.zero_()
        y = block(x)
    torch.testing.assert_close(y, expected_shortcut)


def test_position_embedding_tiles_the_window_embedding() -> None:
    trunk = Hiera(HIERA_SIZES["t"])
    with torch.no_grad():
        trunk.pos_embed.zero_()
        trunk.pos_embed_window.copy_(torch.randn_like(trunk.pos_embed_window))
    pos = trunk.position_embedding((32, 32))  # (1, H, W, C)
    torch.testing.assert_close(pos[0, :8, :8], pos[0, 8:16, 16:24])
    torch.testing.assert_close(pos[0, :8, :8].permute(2, 0, 1), trunk.pos_embed_window[0])


def test_sine_position_encoding_values() -> None:
    enc = PositionEmbeddingSine(256)
    pe = enc(torch.zeros(2, 7, 4, 6))
    assert pe.shape == (2, 256, 4, 6)
    # Channel 0 is sin(2*pi*y/H) of the normalised row; channel 128 the same for x.
    y = torch.arange(1, 5) / (4 + 1e-6) * 2 * math.pi
    torch.testing.assert_close(pe[0, 0, :, 0], torch.sin(y))
    x = torch.arange(1, 7) / (6 + 1e-6) * 2 * math.pi
    torch.testing.assert_close(pe[0, 129, 0, :], torch.cos(x))


def test_random_fourier_encoding_matches_coords() -> None:
    pe = PositionEmbeddingRandom(64)
    dense = pe((8, 8))  # (C, H, W) of pixel centres
    assert dense.shape == (128, 8, 8)
    centre = torch.tensor([[[2.5, 5.5]]])  # pixel (x=2, y=5) of an 8x8 image
    torch.testing.assert_close(pe.forward_with_coords(centre, (8, 8))[0, 0], dense[:, 5, 2])
    assert dense.abs().max() <= 1.0


def test_rope_preserves_norm_and_depends_on_relative_position() -> None:
    freqs = axial_rope_frequencies(16, 4, 4)
    assert freqs.shape == (16, 8, 2)  # (tokens, channel pairs, cos|sin)
    q = torch.randn(1, 1, 1, 16).expand(1, 1, 16, 16)
    k = torch.randn(1, 1, 1, 16).expand(1, 1, 16, 16)
    rq, rk = apply_rope(q, freqs), apply_rope(k, freqs)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    scores = rq[0, 0] @ rk[0, 0].T  # token i = (x=i%4, y=i//4)
    # Same offset (+1 in x): (0,0)->(1,0) and (1,2)->(2,2).
    torch.testing.assert_close(scores[0, 1], scores[9, 10])
    # Keys spanning two frames get the same rotation per frame.
    rk2 = apply_rope(torch.cat([k, k], dim=2), freqs)
    torch.testing.assert_close(rk2[:, :, 16:], rk)


def test_prompt_encoder_pads_points_without_box() -> None:
    enc = PromptEncoder(32, (16, 16), (256, 256), 16)
    points = torch.tensor([[[10.0, 20.0]]]), torch.tensor([[1]])
    sparse, dense = enc(points, None, None)
    assert sparse.shape == (1, 2, 32) and dense.shape == (1, 32, 16, 16)
    torch.testing.assert_close(sparse[0, 1], enc.not_a_point_embed.weight[0])
    sparse_box, _ = enc(points, torch.tensor([[0.0, 0.0, 50.0, 50.0]]), None)
    assert sparse_box.shape == (1, 3, 32)  # no padding when a box follows
    # A box's corners equal points labelled 2 and 3.
    corners = torch.tensor([[[0.0, 0.0], [50.0, 50.0]]]), torch.tensor([[2, 3]])
    as_points, _ = enc(corners, None, None)
    torch.testing.assert_close(as_points[0, :2], sparse_box[0, 1:])
    _, dense_mask = enc(None, None, torch.randn(3, 1, 64, 64))
    assert dense_mask.shape == (3, 32, 16, 16)


def test_mask_decoder_outputs_and_dynamic_multimask() -> None:
    dec = MaskDecoder(256, MaskDecoderConfig(dynamic_multimask_via_stability=True)).eval()
    image, pe = torch.randn(1, 256, 16, 16), torch.randn(1, 256, 16, 16)
    sparse, dense = torch.randn(2, 3, 256), torch.randn(2, 256, 16, 16)
    high = [torch.randn(1, 32, 64, 64), torch.randn(1, 64, 32, 32)]
    with torch.no_grad():
        multi = dec(image, pe, sparse, dense, True, True, high)
        single = dec(image, pe, sparse, dense, False, True, high)
        everything = dec.predict_masks(image, pe, sparse, dense, True, high)
    assert multi.masks.shape == (2, 3, 64, 64) and multi.iou_scores.shape == (2, 3)
    assert multi.mask_tokens.shape == (2, 3, 256) and multi.object_score_logits.shape == (2, 1)
    assert single.masks.shape == (2, 1, 64, 64)
    all_masks, all_iou = everything[0], everything[1]
    for b in range(2):
        stable = dec.stability_scores(all_masks[b, 0]) >= 0.98
        if stable:
            torch.testing.assert_close(single.masks[b, 0], all_masks[b, 0])
        else:
            best = int(all_iou[b, 1:].argmax()) + 1
            torch.testing.assert_close(single.masks[b, 0], all_masks[b, best])


def test_stability_score_of_a_crisp_mask_is_one() -> None:
    dec = MaskDecoder(256, MaskDecoderConfig())
    crisp = torch.full((1, 1, 8, 8), -10.0)
    crisp[..., 2:5, 2:5] = 10.0
    assert dec.stability_scores(crisp).item() == 1.0
    soft = torch.zeros(1, 1, 8, 8)
    soft[..., 0, 0] = 1.0
    assert dec.stability_scores(soft).item() == pytest.approx(1 / 64)


def test_memory_blocks_shapes() -> None:
    cfg = PRESETS["sam2.1_hiera_t"]
    attn = MemoryAttention(cfg.memory_attention, kv_in_dim=64).eval()
    curr, curr_pos = torch.randn(1, 64, 256), torch.randn(1, 64, 256)
    memory = torch.randn(1, 2 * 64 + 4, 64)  # two 8x8 memory frames + 4 pointer tokens
    with torch.no_grad():
        out = attn(curr, memory, curr_pos, torch.randn_like(memory), num_obj_ptr_tokens=4)
    assert out.shape == (1, 64, 256)
    enc = MemoryEncoder(256, cfg.memory_encoder)
    with torch.no_grad():
        mem = enc(torch.randn(1, 256, 8, 8), torch.randn(1, 1, 128, 128))
    assert mem.features.shape == (1, 64, 8, 8) and mem.pos_enc.shape == (1, 64, 8, 8)


def test_dense_position_encoding_is_kept_until_its_matrix_changes() -> None:
    enc = PromptEncoder(32, (8, 8), (128, 128), 16)
    first = enc.get_dense_pe()
    assert enc.get_dense_pe() is first  # kept: the same for every prompt
    state = enc.state_dict()
    state["pe_layer.positional_encoding_gaussian_matrix"] = torch.randn_like(state["pe_layer.positional_encoding_gaussian_matrix"])
    enc.load_state_dict(state)
    again = enc.get_dense_pe()
    assert not torch.equal(again, first)
    torch.testing.assert_close(again, enc.pe_layer((8, 8)).unsqueeze(0))


def test_dense_position_encoding_of_a_model_built_under_inference_mode() -> None:
    with torch.inference_mode():
        enc = PromptEncoder(32, (8, 8), (128, 128), 16)  # parameters without version counters
        pe = enc.get_dense_pe()
        with torch.no_grad():
            enc.pe_layer.positional_encoding_gaussian_matrix.mul_(2.0)
        torch.testing.assert_close(enc.get_dense_pe(), enc.pe_layer((8, 8)).unsqueeze(0))
        assert not torch.equal(enc.get_dense_pe(), pe)


@pytest.mark.parametrize("nq, nk", [(512, 5), (7, 512), (9, 9)])
def test_attention_reassociated_for_few_tokens_is_the_same_function(nq: int, nk: int) -> None:
    torch.manual_seed(0)
    attn = Attention(64, 4, downsample_rate=2)  # head width 8: 5 or 7 tokens take the short paths
    q, k, v = torch.randn(2, nq, 64), torch.randn(2, nk, 64), torch.randn(2, nk, 64)
    q.requires_grad_(True)
    out = attn(q, k, v)
    ref = attn.attend(attn.split_heads(attn.q_proj(q)), attn.split_heads(attn.k_proj(k)), attn.split_heads(attn.v_proj(v)))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    (grad,) = torch.autograd.grad(out.square().sum(), q)
    (ref_grad,) = torch.autograd.grad(ref.square().sum(), q)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)


def test_channel_layer_norm_is_the_same_on_either_layout() -> None:
    norm = LayerNorm2d(6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 5, 7)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(norm(channels_last), norm(x), rtol=1e-5, atol=1e-5)
