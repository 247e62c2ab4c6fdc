"""SAM 2's network blocks, one module per block of the paper."""

from .image_encoder import ImageEncoder, ImageFeatures
from .mask_decoder import DecoderOutput, MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .prompt_encoder import PromptEncoder
from .sam2 import Sam2

__all__ = [
    "DecoderOutput",
    "ImageEncoder",
    "ImageFeatures",
    "MaskDecoder",
    "MemoryAttention",
    "MemoryEncoder",
    "PromptEncoder",
    "Sam2",
]
