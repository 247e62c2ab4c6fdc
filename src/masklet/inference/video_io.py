"""Video input: JPEG folders, video files (PyAV), in-memory frames and pushed streams.

Frames are decoded lazily and kept in a small LRU, so memory does not grow with the
length of the video. Each frame is prepared as the reference's video path prepares it:
resized to the model's square input with PIL's bicubic filter, scaled to [0, 1] and
normalised with the ImageNet mean and std.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import IMAGENET_MEAN, IMAGENET_STD
from ..errors import BadInput, FrameOutOfRange, LimitError, NotFound, OutsideRoot

JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class VideoError(BadInput):
    """A video or image that cannot be opened or read."""


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
            raise FrameOutOfRange(f"frame index {index} out of range: the video has {self.num_frames} frames (0..{self.num_frames - 1})")

    def close(self) -> None:
        """Release what the source holds open (a decoder, a file); reading after it fails."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse a frame size over `max_pixels` (before anything is decoded)."""
    if max_pixels is not None and width * height > max_pixels:
        raise LimitError(f"{name} is {width}x{height} ({width * height:,} pixels); the limit is {max_pixels:,} pixels a frame")


def check_frames(name: str, count: int, max_frames: int | None, more: bool = False) -> None:
    """Refuse a video longer than `max_frames`."""
    if max_frames is not None and count > max_frames:
        raise LimitError(f"{name} has {'more than ' if more else ''}{count - 1 if more else count} frames; the limit is {max_frames}")


def check_under(path: Path, root: Path | None) -> Path:
    """`path` resolved (links followed), refused if that lies outside `root`."""
    resolved = path.resolve()
    if root is not None and not resolved.is_relative_to(root.resolve()):
        raise OutsideRoot(f"{path.name} is a link to a file outside the data root; it is not read")
    return resolved


def image_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of an image file from its header, refused over `max_pixels`."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{Path(path).name} is too large to open: {exc}") from None
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise VideoError(f"cannot read image {Path(path).name}: {exc}") from None
    check_pixels(Path(path).name, width, height, _pixel_limit(max_pixels))
    return width, height


def _pixel_limit(max_pixels: int | None) -> int | None:
    """The limit given, or else PIL's own: the size it refuses to decode at all."""
    if max_pixels is not None:
        return max_pixels
    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None


class JpegFolderSource(FrameSource):
    """A folder of JPEG frames, ordered by the number in their names (00000.jpg, ...)."""

    def __init__(
        self, folder: str | os.PathLike, max_pixels: int | None = None, max_frames: int | None = None, root: Path | None = None
    ) -> None:
        folder = Path(folder)
        paths = [p for p in folder.iterdir() if p.suffix in JPEG_SUFFIXES]
        if not paths:
            raise VideoError(f"no JPEG frames (*.jpg, *.jpeg) in folder {folder}")
        check_frames(folder.name, len(paths), max_frames)
        try:
            paths.sort(key=lambda p: int(p.stem))
        except ValueError:
            paths.sort(key=lambda p: p.name)  # not all numeric: name order
        self.root = root  # every frame must resolve under it (links included)
        for p in paths:
            check_under(p, root)
        self.paths = paths
        self.num_frames = len(paths)
        self.max_pixels = max_pixels
        self.width, self.height = image_size(paths[0], max_pixels)

    def frame(self, index: int) -> np.ndarray:
        self.check_index(index)
        path = check_under(self.paths[index], self.root)  # again: a link may have changed since
        try:
            with Image.open(path) as img:
                # Each frame's header is checked before decoding: one huge frame in a folder
                # of small ones must not be decoded.
                if img.size != (self.width, self.height):
                    raise VideoError(f"frame {self.paths[index].name} is {img.size[0]}x{img.size[1]}, "
                                     f"unlike the first frame's {self.width}x{self.height}")
                return np.asarray(img.convert("RGB"))
        except Image.DecompressionBombError as exc:
            raise LimitError(f"frame {self.paths[index].name} is too large to open: {exc}") from None
        except OSError as exc:
            raise VideoError(f"cannot read frame {self.paths[index]}: {exc}") from exc


class VideoFileSource(FrameSource):
    """A video file decoded with PyAV; frames located by their presentation timestamps."""

    def __init__(self, path: str | os.PathLike, max_pixels: int | None = None, max_frames: int | None = None) -> None:
        import av

        self.path = Path(path)
        # A container and its decoder are not thread-safe: every use holds this lock.
        self._lock = threading.Lock()
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"cannot open video {self.path}: {exc}") from exc
        try:
            self._index_frames(max_pixels, max_frames)
        except BaseException:
            self._container.close()
            raise
        self._decoder = None
        self._next_index = -1

    def _index_frames(self, max_pixels: int | None, max_frames: int | None) -> None:
        import av

        if not self._container.streams.video:
            raise VideoError(f"{self.path} holds no video stream")
        self._stream = self._container.streams.video[0]
        # Sizes from the stream's header, checked before any packet is read.
        self.width = self._stream.codec_context.width
        self.height = self._stream.codec_context.height
        if self.width <= 0 or self.height <= 0:
            raise VideoError(f"video {self.path} does not say its frame size")
        check_pixels(self.path.name, self.width, self.height, max_pixels)
        if self._stream.frames:
            check_frames(self.path.name, self._stream.frames, max_frames)
        # One pass over the packets (no decoding) lists every frame's timestamp.
        pts = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.pts is not None and packet.size > 0:
                    pts.append(packet.pts)
                    if max_frames is not None and len(pts) > max_frames:
                        check_frames(self.path.name, len(pts), max_frames, more=True)
        except av.FFmpegError as exc:
            raise VideoError(f"video {self.path} is corrupt: {exc}") from exc
        if not pts:
            raise VideoError(f"video {self.path} has no frames")
        self._pts = sorted(pts)
        self._index_of = {p: i for i, p in enumerate(self._pts)}
        self.num_frames = len(self._pts)
        self.fps = float(self._stream.average_rate or self._stream.guessed_rate or 30.0)

    def _seek(self, index: int) -> None:
        self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._next_index = -1  # unknown until a frame is seen

    def frame(self, index: int) -> np.ndarray:
        self.check_index(index)
        with self._lock:
            if self._container is None:
                raise VideoError(f"video {self.path.name} is closed")
            return self._decode(index)

    def _decode(self, index: int) -> np.ndarray:
        import av

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
        with self._lock:
            if self._container is not None:
                self._decoder = None
                self._container.close()
                self._container = None


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
            raise FrameOutOfRange(f"frame {index} is no longer held by the stream (it keeps the last {self.keep})")
        return self._frames[index]


def open_video(
    video: str | os.PathLike | list | np.ndarray | FrameSource,
    max_pixels: int | None = None,
    max_frames: int | None = None,
    root: Path | None = None,
) -> FrameSource:
    """A FrameSource for a JPEG folder, a video file, frames in memory, or a source itself.

    Sizes are read from headers and checked against `max_pixels` (per frame) and
    `max_frames` before anything is decoded (LimitError); with `root`, every file read
    must resolve under it (OutsideRoot).
    """
    if isinstance(video, FrameSource):
        return video
    if isinstance(video, (list, tuple, np.ndarray)):
        return ArraySource(video)
    path = Path(video)
    if not path.exists():
        raise NotFound(f"video not found: {path} (give an MP4 file or a folder of JPEG frames)")
    if path.is_dir():
        return JpegFolderSource(path, max_pixels, max_frames, root)
    check_under(path, root)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ArraySource([read_image(path, max_pixels)])  # a still image is a one-frame video
    return VideoFileSource(path, max_pixels, max_frames)


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, or a VideoError naming the file.

    The size in its header is checked first (against `max_pixels`, or PIL's own limit),
    so an image that would not fit in memory is refused before it is decoded.
    """
    image_size(path, max_pixels)
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{Path(path).name} is too large to open: {exc}") from None
    except (OSError, ValueError) as exc:
        raise VideoError(f"cannot read image {path}: {exc}") from None


def model_frame(frame: np.ndarray, image_size: int) -> np.ndarray:
    """An (H, W, 3) uint8 frame as the model's (3, S, S) float32 input: bicubic resize of
    the 8-bit image (as the reference does for videos), ImageNet normalisation."""
    resized = Image.fromarray(frame).resize((image_size, image_size), Image.Resampling.BICUBIC)
    x = (np.asarray(resized) / 255.0).transpose(2, 0, 1)
    mean = np.array(IMAGENET_MEAN).reshape(3, 1, 1)
    std = np.array(IMAGENET_STD).reshape(3, 1, 1)
    return ((x.astype(np.float32) - mean.astype(np.float32)) / std.astype(np.float32)).astype(np.float32)


class FrameLoader:
    """Model-ready frames (3, S, S), prepared on demand and kept in a small LRU: torch
    tensors, or numpy arrays with `as_numpy` (masklet.runtime)."""

    def __init__(self, source: FrameSource, image_size: int, cache_size: int = 8, as_numpy: bool = False) -> None:
        self.source = source
        self.image_size = image_size
        self.cache_size = cache_size
        self.as_numpy = as_numpy
        self._cache: OrderedDict[int, object] = OrderedDict()

    def __len__(self) -> int:
        return self.source.num_frames

    def __getitem__(self, index: int):  # -> torch.Tensor, or np.ndarray with as_numpy
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        x = model_frame(self.source.frame(index), self.image_size)
        if not self.as_numpy:
            import torch

            x = torch.from_numpy(x)
        self._cache[index] = x
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return x
