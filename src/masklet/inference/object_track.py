"""One object's bookkeeping in a video: its prompts and outputs per frame, and the rules
by which a prompt is answered, filed and committed (torch-free: the torch path and
masklet.runtime share it; the arrays inside are tensors or numpy arrays)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import FrameOutput

Tensor = Any  # a torch.Tensor on the torch path, a numpy array in masklet.runtime


@dataclass
class PointPrompt:
    coords: Tensor  # (1, N, 2) in model-input pixels
    labels: Tensor  # (1, N) int32: 1 positive, 0 negative, 2/3 box corners


@dataclass(frozen=True)
class FrameRole:
    """How an object answers a new prompt on a frame, and where that answer is filed."""

    first_look: bool  # propagation has not reached the frame: the prompts alone decide (no memory)
    reverse: bool  # the direction propagation reached it in: its memory is chosen the same way
    prompted: bool  # the answer becomes a prompted (conditioning) frame of the memory bank


@dataclass
class ObjectTrack:
    """One object: its prompts per frame and its outputs, prompted frames apart.

    Its state changes only through these methods: a prompt is answered and filed as
    pending, a propagation commits what is pending (prompted or corrected frames) and
    records what it tracks, and old outputs leave as the memory window moves on.
    """

    obj_id: int
    points: dict[int, PointPrompt] = field(default_factory=dict)
    masks: dict[int, Tensor] = field(default_factory=dict)  # frame -> (1, 1, S, S) binary
    cond_outputs: dict[int, FrameOutput] = field(default_factory=dict)  # prompted frames
    non_cond_outputs: dict[int, FrameOutput] = field(default_factory=dict)  # tracked frames
    # Answers to prompts since the last propagation: their memories are not encoded yet.
    pending_cond: dict[int, FrameOutput] = field(default_factory=dict)
    pending_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: set[int] = field(default_factory=set)  # frames propagation has reached (prompted ones too)
    tracked_in_reverse: set[int] = field(default_factory=set)  # of those, reached last going backward
    corrected: set[int] = field(default_factory=set)  # tracked frames whose correction propagation keeps

    # -- prompts ------------------------------------------------------------------------

    def role(self, frame_idx: int, corrections_prompted: bool) -> FrameRole:
        """The role of a new prompt on a frame; `corrections_prompted`: a prompt on a frame
        propagation has reached also becomes a prompted frame."""
        first_look = frame_idx not in self.tracked
        return FrameRole(first_look, frame_idx in self.tracked_in_reverse, first_look or corrections_prompted)

    def set_points(self, frame_idx: int, prompt: PointPrompt) -> None:
        self.points[frame_idx] = prompt
        self.masks.pop(frame_idx, None)

    def set_mask(self, frame_idx: int, mask: Tensor) -> None:
        self.masks[frame_idx] = mask
        self.points.pop(frame_idx, None)

    def file_answer(self, frame_idx: int, out: FrameOutput, role: FrameRole) -> None:
        """Keep a prompt's answer until the next propagation commits it."""
        (self.pending_cond if role.prompted else self.pending_non_cond)[frame_idx] = out

    def latest(self, frame_idx: int, prompted: bool) -> FrameOutput | None:
        """The newest output on a frame: a pending answer of that kind, else the committed one."""
        pending = self.pending_cond if prompted else self.pending_non_cond
        return pending.get(frame_idx) or self.output_at(frame_idx)

    def output_at(self, frame_idx: int) -> FrameOutput | None:
        """The committed output on a frame: prompted first, then tracked."""
        return self.cond_outputs.get(frame_idx) or self.non_cond_outputs.get(frame_idx)

    def has_pending_prompt(self, frame_idx: int) -> bool:
        return frame_idx in self.pending_cond

    def clear_prompts(self, frame_idx: int) -> None:
        """Forget the prompts on a frame; a prompted frame becomes a tracked one."""
        self.points.pop(frame_idx, None)
        self.masks.pop(frame_idx, None)
        self.pending_cond.pop(frame_idx, None)
        self.pending_non_cond.pop(frame_idx, None)
        self.corrected.discard(frame_idx)
        out = self.cond_outputs.pop(frame_idx, None)
        if out is not None:
            self.non_cond_outputs[frame_idx] = out
            self.tracked.discard(frame_idx)
            self.tracked_in_reverse.discard(frame_idx)

    def reopen_as_prompted(self, frame_idx: int) -> None:
        """A frame already tracked becomes a prompted frame again, answered afresh from its
        prompts and its tracked mask (a stream never comes back to fix a frame later)."""
        if frame_idx in self.non_cond_outputs:
            self.pending_cond[frame_idx] = self.non_cond_outputs.pop(frame_idx)
            self.tracked.discard(frame_idx)
            self.tracked_in_reverse.discard(frame_idx)
            self.corrected.discard(frame_idx)

    def commit_pending(self, encode: Callable[[int, FrameOutput], None], keep_corrections: bool = False) -> None:
        """File pending answers as prompted or tracked outputs, encoding the memory of each
        (`encode(frame_idx, out)`) that has none yet; with `keep_corrections`, corrected
        tracked frames are kept through later propagations."""
        if keep_corrections:
            self.corrected |= set(self.pending_non_cond)
        for pending, table in ((self.pending_non_cond, self.non_cond_outputs), (self.pending_cond, self.cond_outputs)):
            for frame_idx, out in pending.items():
                if out.maskmem_features is None:
                    encode(frame_idx, out)
                table[frame_idx] = out
            pending.clear()
        for frame_idx in self.cond_outputs:
            self.non_cond_outputs.pop(frame_idx, None)
            self.corrected.discard(frame_idx)

    def kept_output(self, frame_idx: int) -> FrameOutput | None:
        """What propagation reuses on a frame instead of tracking it: a prompted answer, or a kept correction."""
        out = self.cond_outputs.get(frame_idx)
        if out is None and frame_idx in self.corrected:
            out = self.non_cond_outputs.get(frame_idx)
        return out

    # -- propagation ----------------------------------------------------------------------

    def record_tracked(self, frame_idx: int, out: FrameOutput) -> None:
        self.non_cond_outputs[frame_idx] = out

    def mark_tracked(self, frame_idx: int, reverse: bool) -> None:
        self.tracked.add(frame_idx)
        (self.tracked_in_reverse.add if reverse else self.tracked_in_reverse.discard)(frame_idx)

    def release(self, frame_idx: int, spill_path: Path) -> None:
        """Free a tracked output that left the memory window: its memory goes (re-encoded if
        ever needed again) and its logits move to disk."""
        out = self.non_cond_outputs.get(frame_idx)
        if out is not None:
            out.maskmem_features = None
            if out.in_memory:
                out.spill(spill_path)

    def forget_before(self, frame_idx: int, window: int, spill_path: Callable[[int], Path]) -> None:
        """For a stream: drop tracked frames beyond the memory window and the prompts of past
        frames; prompted frames keep their memory and pointer, their logits go to disk."""
        for t in [t for t in self.non_cond_outputs if t <= frame_idx - window]:
            del self.non_cond_outputs[t]
        for t in [t for t in self.tracked if t <= frame_idx - window]:
            self.tracked.discard(t)
            self.tracked_in_reverse.discard(t)
            self.corrected.discard(t)
        for table in (self.points, self.masks):
            for t in [t for t in table if t < frame_idx]:
                del table[t]
        for t, out in self.cond_outputs.items():
            if t < frame_idx and out.in_memory:
                out.spill(spill_path(t))
