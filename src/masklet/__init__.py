"""masklet: SAM 2 promptable segmentation of images and videos, faithful and fast on CPUs.

The names below are imported when first used, so `import masklet.runtime` (the
torch-free runtime) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module (relative to this package) that defines it
_EXPORTS = {
    "errors": "", "runtime": "",
    "build_model": ".build", "load_model": ".build", "pick_device": ".build", "tracker_options": ".build",
    "CheckpointError": ".checkpoint", "load_checkpoint": ".checkpoint", "resolve_checkpoint": ".checkpoint",
    "SAM2AutomaticMaskGenerator": ".compat", "SAM2ImagePredictor": ".compat", "SAM2VideoPredictor": ".compat",
    "build_sam2": ".compat", "build_sam2_hf": ".compat", "build_sam2_video_predictor": ".compat",
    "build_sam2_video_predictor_hf": ".compat",
    "Sam2Config": ".config", "TrackerOptions": ".config",
    "ImagePredictor": ".inference", "MaskPrediction": ".inference", "VideoPredictor": ".inference",
    "VideoSession": ".inference", "VideoStream": ".inference",
    "EverythingSettings": ".inference.everything", "track_everything": ".inference.everything",
    "GeneratorSettings": ".inference.mask_generator", "MaskGenerator": ".inference.mask_generator",
    "Sam2": ".model",
    "PRESETS": ".presets", "get_config": ".presets",
}

__all__ = [
    "PRESETS",
    "CheckpointError",
    "EverythingSettings",
    "GeneratorSettings",
    "ImagePredictor",
    "MaskGenerator",
    "MaskPrediction",
    "SAM2AutomaticMaskGenerator",
    "SAM2ImagePredictor",
    "SAM2VideoPredictor",
    "Sam2",
    "Sam2Config",
    "TrackerOptions",
    "VideoPredictor",
    "VideoSession",
    "VideoStream",
    "build_model",
    "build_sam2",
    "build_sam2_hf",
    "build_sam2_video_predictor",
    "build_sam2_video_predictor_hf",
    "errors",
    "get_config",
    "load_checkpoint",
    "load_model",
    "pick_device",
    "resolve_checkpoint",
    "runtime",
    "track_everything",
    "tracker_options",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'masklet' has no attribute {name!r}")
    value = importlib.import_module(f".{name}" if module == "" else module, __name__)
    if module != "":
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # what type checkers and editors see
    from . import errors, runtime
    from .build import build_model, load_model, pick_device, tracker_options
    from .checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint
    from .compat import (
        SAM2AutomaticMaskGenerator,
        SAM2ImagePredictor,
        SAM2VideoPredictor,
        build_sam2,
        build_sam2_hf,
        build_sam2_video_predictor,
        build_sam2_video_predictor_hf,
    )
    from .config import Sam2Config, TrackerOptions
    from .inference import ImagePredictor, MaskPrediction, VideoPredictor, VideoSession, VideoStream
    from .inference.everything import EverythingSettings, track_everything
    from .inference.mask_generator import GeneratorSettings, MaskGenerator
    from .model import Sam2
    from .presets import PRESETS, get_config
