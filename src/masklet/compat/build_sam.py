"""`build_sam2` and friends with the official names and arguments, over masklet.build."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

import torch

from ..errors import BadInput
from ..build import build_model
from ..checkpoint import EMBEDDED_WEIGHTS, embedded_weights
from ..config import Sam2Config, TrackerOptions
from ..presets import NANO, canonical_name, default_tracker_options

# Official hydra override keys (after "model.") -> masklet config fields.
_DECODER_EXTRA = "sam_mask_decoder_extra_args."
_HYDRA_DECODER_KEYS = {
    "dynamic_multimask_via_stability": "mask_decoder.dynamic_multimask_via_stability",
    "dynamic_multimask_stability_delta": "mask_decoder.dynamic_multimask_stability_delta",
    "dynamic_multimask_stability_thresh": "mask_decoder.dynamic_multimask_stability_thresh",
}
_NO_EFFECT_KEYS = {"compile_image_encoder", "_target_"}  # accepted; compilation is chosen elsewhere in masklet

# What the official builder turns on with apply_postprocessing=True.
_IMAGE_POSTPROCESSING = {
    "mask_decoder.dynamic_multimask_via_stability": True,
    "mask_decoder.dynamic_multimask_stability_delta": 0.05,
    "mask_decoder.dynamic_multimask_stability_thresh": 0.98,
}


def _parse_value(text: str) -> object:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip().strip("'\"")


def parse_hydra_overrides(overrides: Iterable[str]) -> dict[str, object]:
    """Translate official `++model.key=value` overrides into masklet config overrides (and
    tracker options, which the official code keeps on the model too)."""
    top_fields = set(Sam2Config.__dataclass_fields__) | set(TrackerOptions.__dataclass_fields__)
    result: dict[str, object] = {}
    for item in overrides:
        if "=" not in item:
            raise BadInput(f"hydra override {item!r} has no '=': expected e.g. '++model.fill_hole_area=0'")
        key, value = item.split("=", 1)
        key = key.lstrip("+~")
        if not key.startswith("model."):
            raise BadInput(f"unknown hydra override {item!r}: only 'model.*' options are known")
        key = key[len("model.") :]
        if key.startswith(_DECODER_EXTRA) and key[len(_DECODER_EXTRA) :] in _HYDRA_DECODER_KEYS:
            result[_HYDRA_DECODER_KEYS[key[len(_DECODER_EXTRA) :]]] = _parse_value(value)
        elif key in _NO_EFFECT_KEYS:
            continue
        elif key in top_fields and key not in ("name", "hiera", "neck", "mask_decoder", "memory_attention", "memory_encoder"):
            result[key] = _parse_value(value)
        else:
            raise BadInput(
                f"unknown hydra override {item!r}: masklet knows model.<option> for the options of "
                f"Sam2Config and TrackerOptions and model.sam_mask_decoder_extra_args.{{{', '.join(_HYDRA_DECODER_KEYS)}}}"
            )
    return result


def _options(postprocessing: dict[str, object] | None, hydra: Iterable[str], overrides: dict[str, object]) -> dict[str, object]:
    """Config overrides: the official post-processing defaults, then hydra, then keywords."""
    options = dict(postprocessing or {})
    options.update(parse_hydra_overrides(hydra))
    options.update(overrides)
    return options


def _default_checkpoint(config_file: str | Sam2Config, ckpt_path: str | os.PathLike | None):
    """No checkpoint named: an embedded model (masklet-nano) loads its packaged weights."""
    if ckpt_path is None and isinstance(config_file, str):
        try:
            name = canonical_name(config_file)
        except ValueError:
            return None
        if name in EMBEDDED_WEIGHTS:
            return embedded_weights(name)
    return ckpt_path


def build_sam2(
    config_file: str | Sam2Config = NANO,
    ckpt_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    mode: str = "eval",
    hydra_overrides_extra: Iterable[str] = (),
    apply_postprocessing: bool = True,
    **overrides: object,
) -> Sam2:
    """Build a SAM 2 model for image prediction, as the official `build_sam2` does."""
    options = _options(_IMAGE_POSTPROCESSING if apply_postprocessing else None, hydra_overrides_extra, overrides)
    _split_tracker_options(options)  # an image model has no tracker: they do nothing here
    return build_model(config_file, _default_checkpoint(config_file, ckpt_path), device=device, mode=mode, **options)


def _split_tracker_options(options: dict[str, object]) -> dict[str, object]:
    """Take the tracker options out of `options` (the rest configure the network)."""
    return {k: options.pop(k) for k in list(options) if k in TrackerOptions.__dataclass_fields__}


# What the official video builder adds with apply_postprocessing=True.
_VIDEO_POSTPROCESSING = {**_IMAGE_POSTPROCESSING, "binarize_mask_from_pts_for_mem_enc": True, "fill_hole_area": 8}


def build_sam2_video_predictor(
    config_file: str | Sam2Config = NANO,
    ckpt_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    mode: str = "eval",
    hydra_overrides_extra: Iterable[str] = (),
    apply_postprocessing: bool = True,
    vos_optimized: bool = False,
    **overrides: object,
):
    """Build a SAM2VideoPredictor, as the official `build_sam2_video_predictor` does.

    `vos_optimized` is accepted and has no effect (the official one compiles the model
    for CUDA); tracker options (`fill_hole_area`, `non_overlap_masks`,
    `add_all_frames_to_correct_as_cond`, as keywords or `++model.X=...`) go to the predictor.
    """
    from .sam2_video_predictor import SAM2VideoPredictor

    options = _options(_VIDEO_POSTPROCESSING if apply_postprocessing else None, hydra_overrides_extra, overrides)
    tracker = _split_tracker_options(options)
    model = build_model(config_file, _default_checkpoint(config_file, ckpt_path), device=device, mode=mode, **options)
    return SAM2VideoPredictor(model, replace(default_tracker_options(model.cfg.name), **tracker))


def build_sam2_video_predictor_hf(model_id: str, **kwargs: object):
    """Video predictor from a hub id such as "facebook/sam2.1-hiera-tiny"."""
    return build_sam2_video_predictor(canonical_name(model_id), ckpt_path=model_id, **kwargs)  # type: ignore[arg-type]


def build_sam2_hf(model_id: str, **kwargs: object) -> Sam2:
    """Build from a hub id such as "facebook/sam2.1-hiera-tiny" (downloaded once, cached)."""
    return build_sam2(canonical_name(model_id), ckpt_path=model_id, **kwargs)  # type: ignore[arg-type]
