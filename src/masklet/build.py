"""Building models: a preset, optional overrides, optional checkpoint, a device."""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from .checkpoint import load_checkpoint, resolve_checkpoint
from .config import SPEED_MODES, Sam2Config, TrackerOptions
from .errors import BadInput
from .model import Sam2
from .presets import canonical_name, default_tracker_options, get_config


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA, else Apple MPS, else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def build_model(
    config: str | Sam2Config,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    mode: str = "eval",
    **overrides: object,
) -> Sam2:
    """A Sam2 for a preset (any accepted name), loading `checkpoint` strictly if given.

    `checkpoint` may be a local .pt/.safetensors file, a URL, a hub id or an official name,
    or "standin" for deterministic stand-in weights (masklet.standin: no download, not
    trained; for demos and tests). `overrides` replace config fields (`image_size=256`,
    `"memory_attention.num_layers"`: ...).
    """
    if mode not in ("eval", "train"):
        raise BadInput(f"mode must be 'eval' or 'train', got {mode!r}")
    cfg = get_config(config, **overrides)
    model = Sam2(cfg)
    if checkpoint == "standin":
        from .standin import standin_state_dict

        model.load_state_dict(standin_state_dict(cfg), strict=True)
    elif checkpoint is not None:
        path, _ = resolve_checkpoint(checkpoint)
        load_checkpoint(model, path, cfg.name)
    model = model.to(pick_device(device))
    return model.eval() if mode == "eval" else model.train()


def load_model(name: str, checkpoint: str | os.PathLike | None = None, device: str | torch.device | None = None) -> Sam2:
    """A model by any accepted name with its checkpoint (default: its own: packaged for
    masklet-nano, the official file from the cache or its URL otherwise)."""
    name = canonical_name(name)
    return build_model(name, checkpoint or name, device=device)


def tracker_options(speed: str = "exact", model: str | None = None, **options: object) -> TrackerOptions:
    """The tracker options of a speed mode ("exact" or "fast") for a model (its preset's
    defaults: EdgeTAM keeps corrections), with `options` on top."""
    if speed not in SPEED_MODES:
        raise BadInput(f"speed must be one of {sorted(SPEED_MODES)}, got {speed!r}")
    base = default_tracker_options(canonical_name(model)) if model else TrackerOptions()
    return replace(base, **{**SPEED_MODES[speed], **options})
