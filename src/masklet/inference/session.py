"""All the state of one video being segmented, typed: frames, objects, prompts, outputs.

A VideoSession is what `init_state` returns. Modules hold weights; the session holds
everything that changes while a user works on a video.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import FrameOutOfRange, UnknownObject
from .object_track import FrameRole, ObjectTrack, PointPrompt  # noqa: F401  (part of this module's interface)
from .video_io import FrameLoader


@dataclass
class FrameFeatures:
    """The image encoder's output for one frame, as the tracking step consumes it."""

    frame_idx: int
    vision_feats: Tensor  # (1, C, h, w) stride-16 features (no memory, no no_mem_embed)
    vision_pos: Tensor  # (1, C, h, w) their sine position encoding
    high_res_feats: list[Tensor]  # [(1, C/8, 4h, 4w), (1, C/4, 2h, 2w)] for the decoder


class FrameOutput:
    """One object's result on one frame: mask logits, pointer, score and (maybe) memory.

    Mask logits of frames that left the memory window can be spilled to disk, and their
    memory released; both come back on demand (the memory by re-encoding the frame).
    """

    def __init__(self, pred_masks: Tensor, obj_ptr: Tensor, object_score_logits: Tensor) -> None:
        self._pred_masks: Tensor | None = pred_masks  # (1, 1, 4h, 4w) float32 logits
        self._spill: Path | None = None
        self.obj_ptr = obj_ptr  # (1, C)
        self.object_score_logits = object_score_logits  # (1, 1)
        self.maskmem_features: Tensor | None = None  # (1, C_mem, h, w) bfloat16 once encoded
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


# What the official `inference_state` dict exposes, read from the typed session.
_OFFICIAL_KEYS: dict[str, Callable[[VideoSession], object]] = {
    "num_frames": lambda s: s.num_frames,
    "video_height": lambda s: s.video_height,
    "video_width": lambda s: s.video_width,
    "obj_ids": lambda s: s.obj_ids,
    "device": lambda s: s.device,
    "storage_device": lambda s: s.storage_device,
    "obj_id_to_idx": lambda s: {obj_id: i for i, obj_id in enumerate(s.objects)},
    "obj_idx_to_id": lambda s: dict(enumerate(s.objects)),
    "offload_video_to_cpu": lambda s: False,
    "offload_state_to_cpu": lambda s: s.storage_device.type == "cpu" and s.device.type != "cpu",
}


@dataclass
class VideoSession:
    """A video and everything known about the objects in it.

    The attributes are the interface. For code written against the official API it also
    reads like the official `inference_state` dict (`session["num_frames"]`, read-only).
    """

    frames: FrameLoader
    device: torch.device
    storage_device: torch.device
    objects: dict[int, ObjectTrack] = field(default_factory=dict)  # by id, in order added
    feature_cache: FrameFeatures | None = None  # the most recent frame's features
    maskmem_pos_enc: Tensor | None = None  # the same for every memory: computed once
    scratch: Path | None = None  # spilled mask logits live here
    owns_source: bool = True  # the session opened its video, so closing it closes the video

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
            raise FrameOutOfRange(f"frame_idx {frame_idx} out of range: the video has {self.num_frames} frames (0..{self.num_frames - 1})")

    def get_object(self, obj_id: int) -> ObjectTrack:
        if obj_id not in self.objects:
            raise UnknownObject(f"unknown object id {obj_id!r}; known ids: {self.obj_ids}")
        return self.objects[obj_id]

    def prompted_on(self, frame_idx: int) -> bool:
        """Does some object have a new prompted answer on this frame (not yet propagated)?"""
        return any(obj.has_pending_prompt(frame_idx) for obj in self.objects.values())

    def spill_path(self, obj_id: int, frame_idx: int) -> Path:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="masklet-session-"))
        return self.scratch / f"{obj_id}_{frame_idx}.npy"

    def forget_old(self, obj: ObjectTrack, frame_idx: int, reverse: bool, window: int) -> None:
        """Keep memory flat as tracking moves on: a video's outputs beyond the window are
        released (spilled, re-encoded on demand); a stream's are dropped."""
        if not self.length_known:
            obj.forget_before(frame_idx, window, lambda t: self.spill_path(obj.obj_id, t))
            return
        old = frame_idx + window if reverse else frame_idx - window
        obj.release(old, self.spill_path(obj.obj_id, old))

    def clear(self) -> None:
        """Forget every object, prompt and output (the frames and their features stay, so
        a click right after a reset is answered at once, as the reference's is)."""
        self.objects.clear()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def close(self) -> None:
        """End the session: forget everything and close the video it opened."""
        self.clear()
        self.feature_cache = None
        self.maskmem_pos_enc = None
        if self.owns_source:
            self.frames.source.close()

    def __enter__(self) -> VideoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # -- the official inference_state, read-only -------------------------------------------

    def __getitem__(self, key: str) -> object:
        if key not in _OFFICIAL_KEYS:
            raise KeyError(f"{key!r}: masklet's session offers {sorted(_OFFICIAL_KEYS)} as keys; the rest is in its "
                           f"typed attributes (session.objects[obj_id].cond_outputs, ...)")
        return _OFFICIAL_KEYS[key](self)

    def __contains__(self, key: object) -> bool:
        return key in _OFFICIAL_KEYS

    def keys(self) -> list[str]:
        return list(_OFFICIAL_KEYS)

    def get(self, key: str, default: object = None) -> object:
        return self[key] if key in _OFFICIAL_KEYS else default
