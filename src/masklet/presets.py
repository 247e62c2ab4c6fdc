"""Named presets: the eight official SAM 2 / SAM 2.1 configs as a literal table.

A preset is found by its official name (`sam2.1_hiera_t`), by the official config path
(`configs/sam2.1/sam2.1_hiera_t.yaml`), by the checkpoint stem (`sam2.1_hiera_tiny`), by a
hub id (`facebook/sam2.1-hiera-tiny`) or by a readable alias (`sam2.1-tiny`).
"""

from __future__ import annotations

import re

from .config import (
    HieraConfig,
    MaskDecoderConfig,
    MemoryAttentionConfig,
    MemoryEncoderConfig,
    NeckConfig,
    RepViTConfig,
    Sam2Config,
    SpatialPerceiverConfig,
    TrackerOptions,
)
from .errors import BadInput

# The four trunk sizes; parameter counts are those of the whole network.
HIERA_SIZES: dict[str, HieraConfig] = {
    # tiny: 38.9M parameters
    "t": HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9)),
    # small: 46.0M
    "s": HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13)),
    # base_plus: 80.8M
    "b+": HieraConfig(
        embed_dim=112,
        num_heads=2,
        stages=(2, 3, 16, 3),
        global_att_blocks=(12, 16, 20),
        window_pos_embed_bkg_spatial_size=(14, 14),
    ),
    # large: 224.4M
    "l": HieraConfig(
        embed_dim=144,
        num_heads=2,
        stages=(2, 6, 36, 4),
        global_att_blocks=(23, 33, 43),
        window_spec=(8, 4, 16, 8),
    ),
}

SIZE_WORDS = {"t": "tiny", "s": "small", "b+": "base_plus", "l": "large"}

# SAM 2.1 differs from SAM 2 only in how memories and object pointers are encoded.
_SAM2_1_FLAGS = dict(
    no_obj_embed_spatial=True,
    add_tpos_enc_to_obj_ptrs=True,
    proj_tpos_enc_in_obj_ptrs=True,
    use_signed_tpos_enc_to_obj_ptrs=True,
)

PRESETS: dict[str, Sam2Config] = {}
for _size, _hiera in HIERA_SIZES.items():
    PRESETS[f"sam2_hiera_{_size}"] = Sam2Config(name=f"sam2_hiera_{_size}", trunk=_hiera)
    PRESETS[f"sam2.1_hiera_{_size}"] = Sam2Config(
        name=f"sam2.1_hiera_{_size}", trunk=_hiera, **_SAM2_1_FLAGS
    )

# EdgeTAM (Zhou et al., CVPR 2025), the on-device member of the family: SAM 2's prompt
# encoder, mask decoder and memory encoder (SAM 2's memory flags, not 2.1's), a RepViT-M1
# image encoder, two memory-attention layers, and every memory compressed by a 2D spatial
# perceiver to 256 global + 256 spatial latents before it is stored. 13.9M parameters.
EDGETAM = "edgetam"
PRESETS[EDGETAM] = Sam2Config(
    name=EDGETAM,
    trunk=RepViTConfig(),
    memory_attention=MemoryAttentionConfig(num_layers=2),
    spatial_perceiver=SpatialPerceiverConfig(),
)

OFFICIAL_NAMES: tuple[str, ...] = tuple(PRESETS)

# Tracker options a preset's own reference code implies (see TrackerOptions).
TRACKER_DEFAULTS: dict[str, TrackerOptions] = {EDGETAM: TrackerOptions(keep_corrections=True)}


def default_tracker_options(name: str) -> TrackerOptions:
    """The tracker options that reproduce a preset's reference (the plain defaults for most)."""
    return TRACKER_DEFAULTS.get(name, TrackerOptions())

# masklet-nano: the same architecture, narrow and shallow, at a 256-pixel input, so it
# runs interactively on a laptop CPU. Its weights are trained here on generated videos
# and ship inside the package (masklet/weights); see the model card in the README.
NANO = "masklet-nano"
PRESETS[NANO] = Sam2Config(
    name=NANO,
    trunk=HieraConfig(
        embed_dim=32,
        num_heads=1,
        stages=(1, 2, 3, 1),
        global_att_blocks=(5,),
        window_spec=(8, 4, 16, 8),  # at 256 pixels stages 3 and 4 see the whole image
    ),
    neck=NeckConfig(d_model=128),
    mask_decoder=MaskDecoderConfig(transformer_mlp_dim=512, transformer_num_heads=4, iou_head_hidden_dim=128),
    memory_attention=MemoryAttentionConfig(d_model=128, num_layers=2, dim_feedforward=512),
    memory_encoder=MemoryEncoderConfig(out_dim=64),
    image_size=256,
    **_SAM2_1_FLAGS,
)


def _aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for alias in (EDGETAM, "configs/edgetam.yaml", "edgetam.yaml", "facebook/edgetam", "edge-tam", "edge_tam"):
        table[alias] = EDGETAM
    for name in OFFICIAL_NAMES:
        if name == EDGETAM:
            continue
        version, size = name.split("_hiera_")  # "sam2.1", "t"
        word = SIZE_WORDS[size]
        for alias in (
            name,
            f"configs/{version}/{name}.yaml",
            f"{name}.yaml",
            f"{version}_hiera_{word}",  # checkpoint stem
            f"facebook/{version}-hiera-{word.replace('_', '-')}",  # hub id
            f"{version}-hiera-{word.replace('_', '-')}",
            f"{version}-{word}",
            f"{version}-{word.replace('_', '-')}",
            f"{version}-{size}",
        ):
            table[alias.lower()] = name
    table["sam2.1-base"] = "sam2.1_hiera_b+"
    table["sam2-base"] = "sam2_hiera_b+"
    for alias in (NANO, "nano", "masklet_nano"):
        table[alias] = NANO
    return table


ALIASES: dict[str, str] = _aliases()


def canonical_name(config: str) -> str:
    """Map any accepted spelling of a preset to its official name."""
    key = config.strip().lower().replace("\\", "/")
    if key in ALIASES:
        return ALIASES[key]
    # A path into a checkout of the official repository: ".../sam2/configs/sam2.1/x.yaml".
    match = re.search(r"(sam2(?:\.1)?_hiera_(?:t|s|b\+|l)|edgetam)\.yaml$", key)
    if match:
        return match.group(1)
    known = ", ".join((*OFFICIAL_NAMES, NANO))
    raise BadInput(
        f"unknown model config {config!r}: use an official name ({known}), an official "
        f"config path such as 'configs/sam2.1/sam2.1_hiera_t.yaml', or an alias such as "
        f"'sam2.1-tiny'"
    )


def get_config(config: str | Sam2Config, **overrides: object) -> Sam2Config:
    """Return the preset named by `config` (any accepted spelling), with overrides."""
    cfg = config if isinstance(config, Sam2Config) else PRESETS[canonical_name(config)]
    return cfg.with_overrides(**overrides) if overrides else cfg


__all__ = ["PRESETS", "OFFICIAL_NAMES", "canonical_name", "get_config"]
