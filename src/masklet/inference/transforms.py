"""Image and prompt transforms between the user's pixels and the model's square input."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..config import IMAGENET_MEAN, IMAGENET_STD
from ..errors import BadInput
from .connected_components import fill_holes_and_sprinkles



def image_to_tensor(image: np.ndarray | Image.Image) -> Tensor:
    """An RGB image (HWC uint8 array or PIL image) as a (3, H, W) float tensor in [0, 1]."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an HWC uint8 numpy array or a PIL image, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise BadInput(
            f"expected an RGB image of shape (H, W, 3), got shape {image.shape}; "
            "convert grayscale or RGBA images to RGB first"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise BadInput(f"the image is empty (shape {image.shape})")
    if not image.flags.writeable or not image.flags.c_contiguous:
        image = np.array(image)  # torch wants its own writable, contiguous buffer
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    if image.dtype == np.uint8:
        return tensor.float() / 255.0
    if np.issubdtype(image.dtype, np.floating):
        return tensor.float()  # already in [0, 1]
    raise BadInput(f"expected a uint8 (or float in [0, 1]) image, got dtype {image.dtype}")


def preprocess(images: Tensor, resolution: int) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, S, S): antialiased bilinear resize, ImageNet normalisation."""
    x = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def scale_coords(coords: Tensor, orig_hw: tuple[int, int], resolution: int, normalize: bool = True) -> Tensor:
    """Pixel (x, y) in the original image -> model input pixels; `normalize=False`: already in [0, 1]."""
    coords = coords.clone().float()
    if normalize:
        h, w = orig_hw
        coords[..., 0] = coords[..., 0] / w
        coords[..., 1] = coords[..., 1] / h
    return coords * resolution


def postprocess_masks(
    low_res: Tensor,
    orig_hw: tuple[int, int],
    threshold: float = 0.0,
    max_hole_area: float = 0.0,
    max_sprinkle_area: float = 0.0,
) -> Tensor:
    """Low-res logits (B, M, h, w) -> logits at the original size, small holes/specks removed."""
    if max_hole_area > 0 or max_sprinkle_area > 0:
        low_res = fill_holes_and_sprinkles(low_res, threshold, max_hole_area, max_sprinkle_area)
    return F.interpolate(low_res, orig_hw, mode="bilinear", align_corners=False)
