"""masklet: SAM 2 promptable segmentation of images and videos, faithful and fast on CPUs."""

from . import errors
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

__version__ = "0.1.0"

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
    "VideoPredictor",
    "VideoSession",
    "VideoStream",
    "build_sam2_video_predictor",
    "build_sam2_video_predictor_hf",
    "Sam2",
    "Sam2Config",
    "TrackerOptions",
    "errors",
    "load_model",
    "tracker_options",
    "track_everything",
    "build_model",
    "build_sam2",
    "build_sam2_hf",
    "get_config",
    "load_checkpoint",
    "pick_device",
    "resolve_checkpoint",
]
