"""Inference on images (and, later, videos) over a Sam2 model."""

from .image_predictor import ImageEmbedding, ImagePredictor, MaskPrediction

__all__ = ["ImageEmbedding", "ImagePredictor", "MaskPrediction"]
