"""Streaming segmentation of unbounded sources: frames pushed one at a time.

A camera, a pipe or a very long file: each pushed frame is tracked as it arrives, and
prompts given on the newest frame take effect at once. Only what the memory window can
still use is kept (the last frames' memories and pointers, the prompted frames'
memories), so memory stays flat however long the stream runs.

    stream = VideoStream(model)
    for frame in frames:                                 # (H, W, 3) uint8 RGB
        prompts = {1: {"points": [[x, y]], "labels": [1]}} if first else None
        result = stream.step(frame, prompts)             # FrameMasks of this frame
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import BadPrompt, NotReady
from ..model import Sam2
from .session import VideoSession
from .video_io import StreamSource
from .video_predictor import FrameMasks, VideoPredictor


class VideoStream:
    """Track objects through frames that arrive one at a time."""

    def __init__(self, model: Sam2 | VideoPredictor, fill_hole_area: int | None = None) -> None:
        self.predictor = model if isinstance(model, VideoPredictor) else VideoPredictor(model, fill_hole_area=fill_hole_area)
        self.source = StreamSource(keep=2)
        self.session: VideoSession = self.predictor.start(self.source)

    @property
    def frame_idx(self) -> int:
        """Index of the newest frame (-1 before the first push)."""
        return self.source.num_frames - 1

    @property
    def obj_ids(self) -> list[int]:
        return self.session.obj_ids

    def close(self) -> None:
        """Free everything the stream holds (its session, spilled logits)."""
        self.session.close()

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(self, frame: np.ndarray) -> int:
        """Add the next frame; returns its index. Prompts and track() then apply to it."""
        return self.source.push(frame)

    def _newest(self) -> int:
        if self.frame_idx < 0:
            raise NotReady("no frame yet: push(frame) before giving prompts")
        return self.frame_idx

    def add_points(self, obj_id: int, points: object = None, labels: object = None, box: object = None, normalize_coords: bool = True) -> FrameMasks:
        """Clicks and/or a box for an object on the newest frame (a new object or a correction)."""
        frame_idx = self._reopen(obj_id)
        return self.predictor.add_points(self.session, frame_idx, obj_id, points, labels, box, normalize_coords=normalize_coords)

    def add_mask(self, obj_id: int, mask: object) -> FrameMasks:
        """An object's mask on the newest frame."""
        frame_idx = self._reopen(obj_id)
        return self.predictor.add_mask(self.session, frame_idx, obj_id, mask)

    def _reopen(self, obj_id: int) -> int:
        """The newest frame, where a prompt on an object already tracked there refines that
        answer as a new prompted frame (a stream never comes back to fix it later)."""
        frame_idx = self._newest()
        obj = self.session.objects.get(obj_id)
        if obj is not None:
            obj.reopen_as_prompted(frame_idx)
        return frame_idx

    @torch.inference_mode()
    def track(self) -> FrameMasks:
        """Masks of every object on the newest frame, remembering it for the next ones."""
        frame_idx = self._newest()
        session, predictor = self.session, self.predictor
        if not session.objects:
            return predictor.frame_masks(session, frame_idx, torch.zeros(0, 1, predictor.image_size // 4, predictor.image_size // 4))
        predictor.commit_prompts(session)  # prompts given on this frame become its prompted answers
        return predictor.track_frame(session, frame_idx)

    def step(self, frame: np.ndarray, prompts: dict[int, dict] | None = None) -> FrameMasks:
        """push(frame), then the prompts {obj_id: {"points", "labels", "box", "mask"}}, then track()."""
        self.push(frame)
        for obj_id, prompt in (prompts or {}).items():
            unknown = set(prompt) - {"points", "labels", "box", "mask", "normalize_coords"}
            if unknown:
                raise BadPrompt(f"unknown prompt keys {sorted(unknown)} for object {obj_id}: use points, labels, box or mask")
            if "mask" in prompt:
                self.add_mask(obj_id, prompt["mask"])
            else:
                self.add_points(obj_id, prompt.get("points"), prompt.get("labels"), prompt.get("box"), prompt.get("normalize_coords", True))
        return self.track()


__all__ = ["VideoStream"]
