"""The README's example runs on a shared photo with a checkpoint file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_segment_image_example(standin_checkpoint, shared_data: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "segment_image.py"),
            "--checkpoint", str(standin_checkpoint("sam2.1_hiera_t")),
            "--image", str(shared_data / "images" / "truck.jpg"),
            "--point", "500,375", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, check=True,
    )
    assert "best mask" in result.stdout
    mask = np.array(Image.open(tmp_path / "mask.png"))
    assert mask.shape == (1200, 1800) and set(np.unique(mask)) <= {0, 255}
    assert 0 < (mask > 0).mean() < 1
    assert Image.open(tmp_path / "overlay.jpg").size == (1800, 1200)


def test_track_video_example(shared_data: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "track_video.py"), "--checkpoint", "standin",
            "--video", str(shared_data / "videos" / "bedroom.mp4"), "--frame", "0",
            "--point", "300,250", "--point", "700,300", "--max-frames", "2", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, check=True,
    )
    assert result.stdout.count("frame ") == 3
    png = Image.open(tmp_path / "masks" / "00002.png")
    assert png.mode == "P" and png.size == (960, 540)
    assert set(np.unique(np.array(png))) <= {0, 1, 2}
    assert (tmp_path / "overlay" / "00002.jpg").is_file()


def test_stream_video_example(shared_data: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "stream_video.py"), "--checkpoint", "standin", "--max-frames", "3"],
        capture_output=True, text=True, check=True,
    )
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["frame 0", "frame 1", "frame 2"]
