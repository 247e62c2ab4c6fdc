"""masklet without PyTorch: the exported ONNX graphs run by onnxruntime, the rest in numpy.

    masklet export-onnx sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt -o sam2.1-tiny-onnx
    predictor = masklet.runtime.ImagePredictor("sam2.1-tiny-onnx")

Nothing here imports torch (a test checks it): `pip install --no-deps masklet` and the
`runtime` extra's packages are enough.
"""

from .graphs import Graphs
from .image_predictor import ImagePredictor
from .streaming import VideoStream
from .video_predictor import VideoPredictor

__all__ = ["Graphs", "ImagePredictor", "VideoPredictor", "VideoStream"]
