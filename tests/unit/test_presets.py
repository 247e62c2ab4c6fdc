"""Every official preset builds a network whose state dict equals the checkpoint spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from masklet.model import Sam2
from masklet.presets import OFFICIAL_NAMES, PRESETS, canonical_name, get_config

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "checkpoint-keys"


def spec_shapes(name: str) -> dict[str, tuple[int, ...]]:
    lines = [line.split() for line in (SPEC / f"{name}.txt").read_text().splitlines() if line and not line.startswith("#")]
    return {key: () if shape == "scalar" else tuple(int(s) for s in shape.split("x")) for key, shape in lines}


@pytest.mark.parametrize("name", OFFICIAL_NAMES)
def test_state_dict_matches_official_keys_and_shapes(name: str) -> None:
    with torch.device("meta"):
        model = Sam2(PRESETS[name])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == spec_shapes(name)


@pytest.mark.parametrize(
    "spelling,name",
    [
        ("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_t"),
        ("configs/sam2/sam2_hiera_b+.yaml", "sam2_hiera_b+"),
        ("sam2_hiera_l.yaml", "sam2_hiera_l"),
        ("sam2.1_hiera_s", "sam2.1_hiera_s"),
        ("sam2.1-tiny", "sam2.1_hiera_t"),
        ("sam2-large", "sam2_hiera_l"),
        ("sam2.1-base-plus", "sam2.1_hiera_b+"),
        ("facebook/sam2.1-hiera-base-plus", "sam2.1_hiera_b+"),
        ("sam2.1_hiera_small", "sam2.1_hiera_s"),
        ("/home/me/sam2/sam2/configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_l"),
    ],
)
def test_config_spellings(spelling: str, name: str) -> None:
    assert canonical_name(spelling) == name


def test_unknown_config_names_the_options() -> None:
    with pytest.raises(ValueError, match="unknown model config 'sam3-huge'.*sam2.1_hiera_t"):
        canonical_name("sam3-huge")


def test_sam2_1_differs_only_in_memory_flags() -> None:
    a, b = PRESETS["sam2_hiera_s"], PRESETS["sam2.1_hiera_s"]
    assert a.trunk == b.trunk and a.mask_decoder == b.mask_decoder
    assert not a.no_obj_embed_spatial and b.no_obj_embed_spatial
    assert b.use_signed_tpos_enc_to_obj_ptrs and b.proj_tpos_enc_in_obj_ptrs


def test_overrides_reach_nested_blocks_and_configs_stay_frozen() -> None:
    cfg = get_config("sam2.1-tiny", max_cond_frames_in_attn=2, **{"mask_decoder.dynamic_multimask_via_stability": True})
    assert cfg.max_cond_frames_in_attn == 2 and cfg.mask_decoder.dynamic_multimask_via_stability
    assert not PRESETS["sam2.1_hiera_t"].mask_decoder.dynamic_multimask_via_stability
    with pytest.raises(Exception):
        cfg.image_size = 512  # type: ignore[misc]
