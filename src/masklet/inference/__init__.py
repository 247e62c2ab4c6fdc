"""Inference on images and videos over a Sam2 model."""

from .image_predictor import ImageEmbedding, ImagePredictor, MaskPrediction
from .session import VideoSession
from .streaming import VideoStream
from .video_predictor import FrameMasks, VideoPredictor

__all__ = ["FrameMasks", "ImageEmbedding", "ImagePredictor", "MaskPrediction", "VideoPredictor", "VideoSession", "VideoStream"]
