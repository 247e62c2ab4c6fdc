"""The official SAM 2 API, names and signatures as users know them; a thin layer."""

from .build_sam import build_sam2, build_sam2_hf, parse_hydra_overrides
from .sam2_image_predictor import SAM2ImagePredictor

__all__ = ["SAM2ImagePredictor", "build_sam2", "build_sam2_hf", "parse_hydra_overrides"]
