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

from ..model import Sam2
from .session import ObjectTrack, VideoSession
from .video_io import StreamSource
from .video_predictor import FrameMasks, VideoPredictor


class VideoStream:
    """Track objects through frames that arrive one at a time."""

    def __init__(self, model: Sam2 | VideoPredictor, fill_hole_area: int | None = None) -> None:
        self.predictor = model if isinstance(model, VideoPredictor) else VideoPredictor(model, fill_hole_area=fill_hole_area)
        self.source = StreamSource(keep=2)
        self.session: VideoSession = self.predictor.start(self.source)
        self._prompted: set[int] = set()  # objects prompted on the newest frame

    @property
    def frame_idx(self) -> int:
        """Index of the newest frame (-1 before the first push)."""
        return self.source.num_frames - 1

    @property
    def obj_ids(self) -> list[int]:
        return self.session.obj_ids

    def push(self, frame: np.ndarray) -> int:
        """Add the next frame; returns its index. Prompts and track() then apply to it."""
        self._prompted.clear()
        return self.source.push(frame)

    def _newest(self) -> int:
        if self.frame_idx < 0:
            raise RuntimeError("no frame yet: push(frame) before giving prompts")
        return self.frame_idx

    def add_points(self, obj_id: int, points: object = None, labels: object = None, box: object = None, normalize_coords: bool = True) -> FrameMasks:
        """Clicks and/or a box for an object on the newest frame (a new object or a correction)."""
        frame_idx = self._newest()
        self._before_prompt(obj_id, frame_idx)
        result = self.predictor.add_points(self.session, frame_idx, obj_id, points, labels, box, normalize_coords=normalize_coords)
        self._prompted.add(int(obj_id))
        return result

    def add_mask(self, obj_id: int, mask: object) -> FrameMasks:
        """An object's mask on the newest frame."""
        frame_idx = self._newest()
        self._before_prompt(obj_id, frame_idx)
        result = self.predictor.add_mask(self.session, frame_idx, obj_id, mask)
        self._prompted.add(int(obj_id))
        return result

    def _before_prompt(self, obj_id: int, frame_idx: int) -> None:
        obj = self.session.objects.get(obj_id)
        if obj is not None and frame_idx in obj.non_cond_outputs:
            # Already tracked on this frame: the prompt refines that answer as a new
            # prompted frame (a stream never comes back to fix it later).
            obj.pending_cond[frame_idx] = obj.non_cond_outputs.pop(frame_idx)
            obj.tracked.pop(frame_idx, None)

    @torch.inference_mode()
    def track(self) -> FrameMasks:
        """Masks of every object on the newest frame, remembering it for the next ones."""
        frame_idx = self._newest()
        session, predictor = self.session, self.predictor
        if not session.objects:
            return predictor.frame_masks(session, frame_idx, torch.zeros(0, 1, predictor.image_size // 4, predictor.image_size // 4))
        for obj in session.objects.values():
            if frame_idx in obj.pending_cond or frame_idx in obj.pending_non_cond:
                self._commit_prompt(obj, frame_idx)
            elif frame_idx not in obj.non_cond_outputs and frame_idx not in obj.cond_outputs:
                out = predictor._track_frame(session, obj, frame_idx, False, None, None, False, run_mem_encoder=True)
                obj.non_cond_outputs[frame_idx] = out
            obj.tracked[frame_idx] = False
            self._forget_old(obj, frame_idx)
        masks = [obj.output_at(frame_idx).pred_masks.to(session.device) for obj in session.objects.values()]
        return predictor.frame_masks(session, frame_idx, torch.cat(masks, dim=0))

    def step(self, frame: np.ndarray, prompts: dict[int, dict] | None = None) -> FrameMasks:
        """push(frame), then the prompts {obj_id: {"points", "labels", "box", "mask"}}, then track()."""
        self.push(frame)
        for obj_id, prompt in (prompts or {}).items():
            unknown = set(prompt) - {"points", "labels", "box", "mask", "normalize_coords"}
            if unknown:
                raise ValueError(f"unknown prompt keys {sorted(unknown)} for object {obj_id}: use points, labels, box or mask")
            if "mask" in prompt:
                self.add_mask(obj_id, prompt["mask"])
            else:
                self.add_points(obj_id, prompt.get("points"), prompt.get("labels"), prompt.get("box"), prompt.get("normalize_coords", True))
        return self.track()

    def _commit_prompt(self, obj: ObjectTrack, frame_idx: int) -> None:
        """A prompted frame becomes a conditioning frame with its memory encoded."""
        out = obj.pending_cond.pop(frame_idx, None) or obj.pending_non_cond.pop(frame_idx)
        self.predictor.encode_memory_from_logits(self.session, frame_idx, out, from_points=True)
        obj.cond_outputs[frame_idx] = out
        obj.non_cond_outputs.pop(frame_idx, None)

    def _forget_old(self, obj: ObjectTrack, frame_idx: int) -> None:
        """Drop tracked frames beyond the memory window and prompts of past frames."""
        cfg = self.predictor.model.cfg
        window = max(cfg.num_maskmem * cfg.memory_temporal_stride_for_eval, cfg.max_obj_ptrs_in_encoder)
        for t in [t for t in obj.non_cond_outputs if t <= frame_idx - window]:
            del obj.non_cond_outputs[t]
        for t in [t for t in obj.tracked if t <= frame_idx - window]:
            del obj.tracked[t]
        for table in (obj.points, obj.masks):
            for t in [t for t in table if t < frame_idx]:
                del table[t]
        for t, out in obj.cond_outputs.items():
            if t < frame_idx and out.in_memory:
                # Kept for its memory and pointer; its logits are no longer needed here.
                out.spill(self.session.spill_path(obj.obj_id, t))


__all__ = ["VideoStream"]
