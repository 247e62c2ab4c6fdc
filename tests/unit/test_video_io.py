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


def test_sizes_are_checked_from_headers_before_decoding(tmp_path: Path, shared_data: Path, png_bomb) -> None:
    from PIL import Image

    from masklet.errors import LimitError, OutsideRoot

    with pytest.raises(LimitError, match="960x540 .*the limit is 100,000 pixels"):
        open_video(shared_data / "videos" / "bedroom.mp4", max_pixels=100_000)
    with pytest.raises(LimitError, match="200 frames; the limit is 50"):
        open_video(shared_data / "videos" / "bedroom.mp4", max_frames=50)
    # A container that does not say its frame count is counted only up to the limit.
    import av

    with av.open(str(tmp_path / "count.mkv"), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height = 32, 32
        for _ in range(60):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode())
    with pytest.raises(LimitError, match="more than 50 frames; the limit is 50"):
        open_video(tmp_path / "count.mkv", max_frames=50)
    assert open_video(tmp_path / "count.mkv", max_frames=60).num_frames == 60
    with pytest.raises(LimitError, match="200 frames; the limit is 50"):
        open_video(shared_data / "videos" / "bedroom", max_frames=50)
    (tmp_path / "big.png").write_bytes(png_bomb(30000, 30000))
    with pytest.raises(LimitError, match="big.png"):
        open_video(tmp_path / "big.png")  # PIL's own limit when none is given
    # One frame of a folder larger than the first is refused before it is decoded.
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (64, 48)).save(folder / "00000.jpg")
    Image.new("RGB", (640, 480)).save(folder / "00001.jpg")
    src = open_video(folder, max_pixels=64 * 48)
    assert src.frame(0).shape == (48, 64, 3)
    with pytest.raises(VideoError, match="00001.jpg is 640x480, unlike the first frame's 64x48"):
        src.frame(1)
    # Every frame must resolve under the root.
    (folder / "00001.jpg").unlink()
    (folder / "00001.jpg").symlink_to(shared_data / "videos" / "bedroom" / "00000.jpg")
    with pytest.raises(OutsideRoot, match="00001.jpg"):
        open_video(folder, root=folder)
    (folder / "00001.jpg").unlink()
    (folder / "00001.jpg").symlink_to(folder / "00000.jpg")
    assert open_video(folder, root=folder).frame(1).shape == (48, 64, 3)  # a link inside the root is fine


def test_a_video_file_decodes_one_reader_at_a_time_and_closes(shared_data: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    src = open_video(shared_data / "videos" / "bedroom.mp4")
    alone = {t: src.frame(t) for t in (3, 90, 150, 40)}
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(src.frame, [3, 90, 150, 40] * 6))
    assert all(np.array_equal(f, alone[t]) for f, t in zip(together, [3, 90, 150, 40] * 6))
    with src:
        pass  # a context manager closes it
    with pytest.raises(VideoError, match="closed"):
        src.frame(0)
    src.close()  # twice is fine
