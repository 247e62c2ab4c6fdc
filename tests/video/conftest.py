"""A fast video model: SAM 2.1 tiny with stand-in weights at a 256-pixel input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import masklet
from masklet.inference.video_io import open_video


@pytest.fixture(scope="session")
def small_video_predictor(standin_checkpoint):
    """The official API over a small-input model: the same code paths, 16x cheaper."""
    return masklet.build_sam2_video_predictor(
        "sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu", fill_hole_area=0, image_size=256
    )


@pytest.fixture(scope="session")
def bedroom_frames(shared_data: Path) -> np.ndarray:
    """The first 24 frames of the shared bedroom clip, downscaled to 240x135."""
    from PIL import Image

    src = open_video(shared_data / "videos" / "bedroom")
    return np.stack([np.asarray(Image.fromarray(src.frame(i)).resize((240, 135))) for i in range(24)])
