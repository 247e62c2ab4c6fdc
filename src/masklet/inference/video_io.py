"""Video input: JPEG folders, video files (PyAV), in-memory frames and pushed streams.

Frames are decoded lazily and kept in a small LRU, so memory does not grow with the
length of the video. Each frame is prepared as the reference's video path prepares it:
resized to the model's square input with PIL's bicubic filter, scaled to [0, 1] and
normalised with the ImageNet mean and std.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .transforms import IMAGENET_MEAN, IMAGENET_STD

JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class VideoError(ValueError):
    """A video that cannot be opened or read."""


class FrameSource:
    """Random access to the RGB frames of a video."""

    num_frames: int
    height: int
    width: int
    fps: float = 30.0  # frames per second (frame folders and arrays have none: 30 is assumed)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as an (H, W, 3) uint8 RGB array."""
        raise NotImplementedError

    def check_index(self, index: int) -> None:
        if not isinstance(index, (int, np.integer)) or not 0 <= index < self.num_frames:
            raise IndexError(f"frame index {index} out of range: the video has {self.num_frames} frames (0..{self.num_frames - 1})")


class JpegFolderSource(FrameSource):
    """A folder of JPEG frames, ordered by the number in their names (00000.jpg, ...)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        paths = [p for p in folder.iterdir() if p.suffix in JPEG_SUFFIXES]
        if not paths:
            raise VideoError(f"no JPEG frames (*.jpg, *.jpeg) in folder {folder}")
        try:
            paths.sort(key=lambda p: int(p.stem))
        except ValueError:
            paths.sort(key=lambda p: p.name)  # not all numeric: name order
        self.paths = paths
        self.num_frames = len(paths)
        try:
            with Image.open(paths[0]) as first:
                self.width, self.height = first.size
        except OSError as exc:
            raise VideoError(f"cannot read frame {paths[0]}: {exc}") from exc

    def frame(self, index: int) -> np.ndarray:
        self.check_index(index)
        try:
            with Image.open(self.paths[index]) as img:
                return np.asarray(img.convert("RGB"))
        except OSError as exc:
            raise VideoError(f"cannot read frame {self.paths[index]}: {exc}") from exc


class VideoFileSource(FrameSource):
    """A video file decoded with PyAV; frames located by their presentation timestamps."""

    def __init__(self, path: str | os.PathLike) -> None:
        import av

        self.path = Path(path)
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError, OSError) as exc:
            raise VideoError(f"cannot open video {self.path}: {exc}") from exc
        # One pass over the packets (no decoding) lists every frame's timestamp.
        try:
            pts = [p.pts for p in self._container.demux(self._stream) if p.pts is not None and p.size > 0]
        except av.FFmpegError as exc:
            raise VideoError(f"video {self.path} is corrupt: {exc}") from exc
        if not pts:
            raise VideoError(f"video {self.path} has no frames")
        self._pts = sorted(pts)
        self._index_of = {p: i for i, p in enumerate(self._pts)}
        self.num_frames = len(self._pts)
        self.width = self._stream.codec_context.width
        self.height = self._stream.codec_context.height
        self.fps = float(self._stream.average_rate or self._stream.guessed_rate or 30.0)
        self._decoder = None
        self._next_index = -1

    def _seek(self, index: int) -> None:
        self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._next_index = -1  # unknown until a frame is seen

    def frame(self, index: int) -> np.ndarray:
        import av

        self.check_index(index)
        target = self._pts[index]
        # Sequential reads continue the decoder; anything else seeks to a keyframe first.
        if self._decoder is None or not (0 <= self._next_index <= index <= self._next_index + 30):
            self._seek(index)
        try:
            for frame in self._decoder:
                if frame.pts is None:
                    continue
                current = self._index_of.get(frame.pts)
                if current is not None:
                    self._next_index = current + 1
                if frame.pts >= target:
                    if frame.pts != target:
                        break
                    return frame.to_ndarray(format="rgb24")
        except av.FFmpegError as exc:
            raise VideoError(f"cannot decode frame {index} of {self.path}: {exc}") from exc
        self._decoder = None
        raise VideoError(f"frame {index} of {self.path} could not be decoded")

    def close(self) -> None:
        self._container.close()


class ArraySource(FrameSource):
    """Frames already in memory: a list of (H, W, 3) uint8 arrays or one (T, H, W, 3) array."""

    def __init__(self, frames: list[np.ndarray] | np.ndarray) -> None:
        if len(frames) == 0:
            raise VideoError("the list of frames is empty")
        self.frames = frames
        first = np.asarray(frames[0])
        if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
            raise VideoError(f"frames must be (H, W, 3) uint8 RGB arrays; got {first.shape} {first.dtype}")
        self.num_frames = len(frames)
        self.height, self.width = first.shape[:2]

    def frame(self, index: int) -> np.ndarray:
        self.check_index(index)
        frame = np.asarray(self.frames[index])
        if frame.shape[:2] != (self.height, self.width):
            raise VideoError(f"frame {index} is {frame.shape[:2]}, unlike frame 0 {(self.height, self.width)}")
        return frame


class StreamSource(FrameSource):
    """Frames pushed one at a time; only the newest ones are kept."""

    unbounded = True

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self.num_frames = 0
        self.height = self.width = 0

    def push(self, frame: np.ndarray) -> int:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise VideoError(f"a frame must be an (H, W, 3) uint8 RGB array; got {frame.shape} {frame.dtype}")
        if self.num_frames == 0:
            self.height, self.width = frame.shape[:2]
        elif frame.shape[:2] != (self.height, self.width):
            raise VideoError(f"frame size {frame.shape[:2]} differs from the stream's {(self.height, self.width)}")
        index = self.num_frames
        self._frames[index] = frame
        self.num_frames += 1
        while len(self._frames) > self.keep:
            self._frames.popitem(last=False)
        return index

    def frame(self, index: int) -> np.ndarray:
        if index not in self._frames:
            raise IndexError(f"frame {index} is no longer held by the stream (it keeps the last {self.keep})")
        return self._frames[index]


def open_video(video: str | os.PathLike | list | np.ndarray | FrameSource) -> FrameSource:
    """A FrameSource for a JPEG folder, a video file, frames in memory, or a source itself."""
    if isinstance(video, FrameSource):
        return video
    if isinstance(video, (list, tuple, np.ndarray)):
        return ArraySource(video)
    path = Path(video)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {path} (give an MP4 file or a folder of JPEG frames)")
    if path.is_dir():
        return JpegFolderSource(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ArraySource([read_image(path)])  # a still image is a one-frame video
    return VideoFileSource(path)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, or a VideoError naming the file."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise VideoError(f"cannot read image {path}: {exc}") from None


class FrameLoader:
    """Model-ready frames (3, S, S), prepared on demand and kept in a small LRU."""

    def __init__(self, source: FrameSource, image_size: int, cache_size: int = 8) -> None:
        self.source = source
        self.image_size = image_size
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Tensor] = OrderedDict()
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return self.source.num_frames

    def __getitem__(self, index: int) -> Tensor:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        frame = self.source.frame(index)
        resized = Image.fromarray(frame).resize((self.image_size, self.image_size), Image.Resampling.BICUBIC)
        x = torch.from_numpy(np.asarray(resized) / 255.0).permute(2, 0, 1).float()
        x = (x - self._mean) / self._std
        self._cache[index] = x
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return x
