"""Coloured masks over frames, and overlay videos encoded with PyAV (written atomically)."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .palette import PALETTE

_COLOURS = np.array(PALETTE, dtype=np.float32).reshape(-1, 3)


def overlay(frame: np.ndarray, labels: np.ndarray, alpha: float = 0.5, outline: bool = True) -> np.ndarray:
    """An (H, W, 3) uint8 frame with each object id of the (H, W) label map tinted in its palette colour."""
    out = frame.astype(np.float32)
    inside = labels > 0
    out[inside] = (1 - alpha) * out[inside] + alpha * _COLOURS[labels[inside]]
    if outline:
        # A one-pixel contour where the label changes makes thin or pale masks visible.
        edge = np.zeros_like(inside)
        edge[:-1] |= labels[:-1] != labels[1:]
        edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
        edge &= inside
        out[edge] = _COLOURS[labels[edge]]
    return out.clip(0, 255).astype(np.uint8)


class VideoWriter(AbstractContextManager):
    """H.264 MP4 writer; the file appears at `path` only when the writer closes without error."""

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, crf: int = 23) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self._atomic = atomic_path(self.path)
        self._container = None
        self._stream = None

    def __enter__(self) -> VideoWriter:
        import av

        tmp = self._atomic.__enter__()
        self._container = av.open(str(tmp), mode="w", format="mp4")
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append an (H, W, 3) uint8 RGB frame."""
        import av

        if self._stream is None:
            h, w = frame.shape[:2]
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = w - w % 2, h - h % 2  # yuv420p needs even sizes
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf)}
        frame = np.ascontiguousarray(frame[: self._stream.height, : self._stream.width])
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        try:
            if exc_type is None and self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
        return self._atomic.__exit__(exc_type, exc, tb)
