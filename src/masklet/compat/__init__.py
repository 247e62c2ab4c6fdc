"""The official SAM 2 API, names and signatures as users know them; a thin layer."""

from .automatic_mask_generator import SAM2AutomaticMaskGenerator
from .build_sam import build_sam2, build_sam2_hf, build_sam2_video_predictor, build_sam2_video_predictor_hf, parse_hydra_overrides
from .sam2_image_predictor import SAM2ImagePredictor
from .sam2_video_predictor import SAM2VideoPredictor

__all__ = [
    "SAM2AutomaticMaskGenerator",
    "SAM2ImagePredictor",
    "SAM2VideoPredictor",
    "build_sam2",
    "build_sam2_hf",
    "build_sam2_video_predictor",
    "build_sam2_video_predictor_hf",
    "parse_hydra_overrides",
]
