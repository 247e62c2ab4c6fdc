"""Inference on images and videos over a Sam2 model.

Names are imported on first use, so the torch-free parts (frame sources, the memory
bank's selection rule, an object's bookkeeping) serve masklet.runtime without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "ImageEmbedding": ".image_predictor", "ImagePredictor": ".image_predictor", "MaskPrediction": ".image_predictor",
    "VideoSession": ".session", "VideoStream": ".streaming", "FrameMasks": ".video_predictor", "VideoPredictor": ".video_predictor",
}

__all__ = ["FrameMasks", "ImageEmbedding", "ImagePredictor", "MaskPrediction", "VideoPredictor", "VideoSession", "VideoStream"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .image_predictor import ImageEmbedding, ImagePredictor, MaskPrediction
    from .session import VideoSession
    from .streaming import VideoStream
    from .video_predictor import FrameMasks, VideoPredictor
