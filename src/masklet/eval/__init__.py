"""Evaluation: DAVIS J&F for video, mIoU per click for images."""

from .metrics import boundary_accuracy, region_similarity
from .vos import VosResult, copy_first_frame_segmenter, evaluate_vos, sam2_segmenter

__all__ = ["VosResult", "boundary_accuracy", "copy_first_frame_segmenter", "evaluate_vos", "region_similarity", "sam2_segmenter"]
