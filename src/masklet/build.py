"""Building models: a preset, optional overrides, optional checkpoint, a device."""

from __future__ import annotations

import os

import torch

from .checkpoint import load_checkpoint, resolve_checkpoint
from .config import Sam2Config
from .model import Sam2
from .presets import get_config


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA, else Apple MPS, else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# Speed modes: config options that trade exactness for time (see README, "Speed").
SPEED_MODES: dict[str, dict[str, object]] = {
    "exact": {},  # the reference's computation
    "fast": {"memory_attention.key_pool": 2},  # memory attention over 2x2-averaged memories
}


def build_model(
    config: str | Sam2Config,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    mode: str = "eval",
    speed: str = "exact",
    **overrides: object,
) -> Sam2:
    """A Sam2 for a preset (any accepted name), loading `checkpoint` strictly if given.

    `checkpoint` may be a local .pt/.safetensors file, a URL, a hub id or an official name,
    or "standin" for deterministic stand-in weights (masklet.standin: no download, not
    trained; for demos and tests). `speed="fast"` picks the approximate speed options.
    """
    if mode not in ("eval", "train"):
        raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}")
    if speed not in SPEED_MODES:
        raise ValueError(f"speed must be one of {sorted(SPEED_MODES)}, got {speed!r}")
    cfg = get_config(config, **{**SPEED_MODES[speed], **overrides})
    model = Sam2(cfg)
    if checkpoint == "standin":
        from .standin import standin_state_dict

        model.load_state_dict(standin_state_dict(cfg), strict=True)
    elif checkpoint is not None:
        path, _ = resolve_checkpoint(checkpoint)
        load_checkpoint(model, path, cfg.name)
    model = model.to(pick_device(device))
    return model.eval() if mode == "eval" else model.train()
