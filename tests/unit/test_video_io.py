"""Video decoding: JPEG folders, MP4 through PyAV (lazy, random access), errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masklet.inference.video_io import ArraySource, FrameLoader, JpegFolderSource, VideoError, VideoFileSource, open_video


def test_jpeg_folder(shared_data: Path) -> None:
    src = open_video(shared_data / "videos" / "bedroom")
    assert isinstance(src, JpegFolderSource)
    assert (src.num_frames, src.height, src.width) == (200, 540, 960)
    assert src.frame(199).shape == (540, 960, 3)


def test_mp4_random_access_equals_sequential(shared_data: Path) -> None:
    src = open_video(shared_data / "videos" / "bedroom.mp4")
    assert isinstance(src, VideoFileSource)
    assert (src.num_frames, src.height, src.width) == (200, 540, 960)
    sequential = [src.frame(i) for i in range(0, 40)]
    for i in (37, 5, 120, 6, 199, 0):
        frame = src.frame(i)
        assert frame.shape == (540, 960, 3) and frame.dtype == np.uint8
        if i < 40:
            np.testing.assert_array_equal(frame, sequential[i])
    # The MP4 and the JPEG folder are the same clip.
    jpeg = open_video(shared_data / "videos" / "bedroom").frame(120).astype(float)
    assert np.abs(src.frame(120).astype(float) - jpeg).mean() < 6


def test_other_shared_clips(shared_data: Path) -> None:
    for name in ("01_dog.mp4", "03_blocks.mp4"):
        src = open_video(shared_data / "videos" / name)
        assert src.num_frames > 200 and src.frame(src.num_frames - 1).shape == (src.height, src.width, 3)


def test_bad_videos(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="video not found"):
        open_video(tmp_path / "nope.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no JPEG frames"):
        open_video(tmp_path / "empty")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(VideoError, match="broken.mp4"):
        open_video(tmp_path / "broken.mp4")
    with pytest.raises(VideoError, match="empty"):
        ArraySource([])
    src = ArraySource(np.zeros((3, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(IndexError, match="out of range: the video has 3 frames"):
        src.frame(3)


def test_frame_loader_prepares_and_caches() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (5, 20, 30, 3), dtype=np.uint8)
    loader = FrameLoader(ArraySource(frames), image_size=64, cache_size=2)
    x = loader[1]
    assert x.shape == (3, 64, 64) and x.dtype.is_floating_point
    assert loader[1] is x  # cached
    loader[2], loader[3]
    assert loader[1] is not x  # evicted: the cache is bounded
