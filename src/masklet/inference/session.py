"""All the state of one video being segmented, typed: frames, objects, prompts, outputs.

A VideoSession is what `init_state` returns. Modules hold weights; the session holds
everything that changes while a user works on a video.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .video_io import FrameLoader


@dataclass
class FrameFeatures:
    """The image encoder's output for one frame, as the tracking step consumes it."""

    frame_idx: int
    vision_feats: Tensor  # (1, C, h, w) stride-16 features (no memory, no no_mem_embed)
    vision_pos: Tensor  # (1, C, h, w) their sine position encoding
    high_res_feats: list[Tensor]  # [(1, C/8, 4h, 4w), (1, C/4, 2h, 2w)] for the decoder


@dataclass
class PointPrompt:
    coords: Tensor  # (1, N, 2) in model-input pixels
    labels: Tensor  # (1, N) int32: 1 positive, 0 negative, 2/3 box corners


class FrameOutput:
    """One object's result on one frame: mask logits, pointer, score and (maybe) memory.

    Mask logits of frames that left the memory window can be spilled to disk, and their
    memory released; both come back on demand (the memory by re-encoding the frame).
    """

    def __init__(self, pred_masks: Tensor, obj_ptr: Tensor, object_score_logits: Tensor, maskmem_features: Tensor | None = None) -> None:
        self._pred_masks: Tensor | None = pred_masks  # (1, 1, 4h, 4w) float32 logits
        self._spill: Path | None = None
        self.obj_ptr = obj_ptr  # (1, C)
        self.object_score_logits = object_score_logits  # (1, 1)
        self.maskmem_features = maskmem_features  # (1, C_mem, h, w) bfloat16, or None
        self.memory_from_points = False  # was the memory made from a binarised prompted mask?

    @property
    def pred_masks(self) -> Tensor:
        if self._pred_masks is None:
            assert self._spill is not None
            return torch.from_numpy(np.load(self._spill))
        return self._pred_masks

    @property
    def in_memory(self) -> bool:
        return self._pred_masks is not None

    def spill(self, path: Path) -> None:
        """Move the mask logits to `path` (a scratch file) to free memory."""
        if self._pred_masks is not None:
            np.save(path, self._pred_masks.cpu().numpy())
            self._spill = path.with_suffix(".npy") if path.suffix != ".npy" else path
            self._pred_masks = None


@dataclass
class ObjectTrack:
    """One object: its prompts per frame and its outputs, prompted frames apart."""

    obj_id: int
    points: dict[int, PointPrompt] = field(default_factory=dict)
    masks: dict[int, Tensor] = field(default_factory=dict)  # frame -> (1, 1, S, S) binary
    cond_outputs: dict[int, FrameOutput] = field(default_factory=dict)  # prompted frames
    non_cond_outputs: dict[int, FrameOutput] = field(default_factory=dict)  # tracked frames
    # Prompted since the last propagation: their memories are not encoded yet.
    pending_cond: dict[int, FrameOutput] = field(default_factory=dict)
    pending_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: dict[int, bool] = field(default_factory=dict)  # frame -> tracked in reverse?

    def output_at(self, frame_idx: int, pending: dict[int, FrameOutput] | None = None) -> FrameOutput | None:
        """The newest output on a frame: pending first (if given), then prompted, then tracked."""
        for table in (pending, self.cond_outputs, self.non_cond_outputs):
            if table is not None and frame_idx in table:
                return table[frame_idx]
        return None


@dataclass
class VideoSession:
    """A video and everything known about the objects in it."""

    frames: FrameLoader
    device: torch.device
    storage_device: torch.device
    objects: dict[int, ObjectTrack] = field(default_factory=dict)  # by id, in order added
    feature_cache: FrameFeatures | None = None  # the most recent frame's features
    maskmem_pos_enc: Tensor | None = None  # the same for every memory: computed once
    scratch: Path | None = None  # spilled mask logits live here

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def length_known(self) -> bool:
        """False for a stream: its length is unbounded, whatever has arrived so far."""
        return not getattr(self.frames.source, "unbounded", False)

    @property
    def video_height(self) -> int:
        return self.frames.source.height

    @property
    def video_width(self) -> int:
        return self.frames.source.width

    @property
    def obj_ids(self) -> list[int]:
        return list(self.objects)

    def check_frame(self, frame_idx: int) -> None:
        if not isinstance(frame_idx, (int, np.integer)) or isinstance(frame_idx, bool):
            raise TypeError(f"frame_idx must be an integer, got {type(frame_idx).__name__}")
        if not 0 <= frame_idx < self.num_frames:
            raise IndexError(f"frame_idx {frame_idx} out of range: the video has {self.num_frames} frames (0..{self.num_frames - 1})")

    def get_object(self, obj_id: int) -> ObjectTrack:
        if obj_id not in self.objects:
            raise KeyError(f"unknown object id {obj_id!r}; known ids: {self.obj_ids}")
        return self.objects[obj_id]

    def spill_path(self, obj_id: int, frame_idx: int) -> Path:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="masklet-session-"))
        return self.scratch / f"{obj_id}_{frame_idx}.npy"

    def clear(self) -> None:
        """Forget every object, prompt and output (frames stay)."""
        self.objects.clear()
        self.feature_cache = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def __del__(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
