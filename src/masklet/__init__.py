"""masklet: SAM 2 promptable segmentation of images and videos, faithful and fast on CPUs."""

from .build import build_model, pick_device
from .checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint
from .compat import SAM2ImagePredictor, build_sam2, build_sam2_hf
from .config import Sam2Config
from .inference import ImagePredictor, MaskPrediction
from .model import Sam2
from .presets import PRESETS, get_config

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "CheckpointError",
    "ImagePredictor",
    "MaskPrediction",
    "SAM2ImagePredictor",
    "Sam2",
    "Sam2Config",
    "build_model",
    "build_sam2",
    "build_sam2_hf",
    "get_config",
    "load_checkpoint",
    "pick_device",
    "resolve_checkpoint",
]
