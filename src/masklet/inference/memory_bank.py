"""Which memories and object pointers a frame attends to: pure functions of frame indices.

The memory bank of a frame holds the prompted (conditioning) frames, which may lie in
the future, plus the num_maskmem - 1 most recent tracked frames before it (after it when
tracking in reverse), and object pointers from up to max_obj_ptrs_in_encoder frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..config import Sam2Config


def select_cond_frames(frame_idx: int, cond_frames: Iterable[int], max_cond_frames: int) -> tuple[list[int], list[int]]:
    """Split prompted frames into those attended to and the rest (max -1: all of them).

    With a limit, the closest prompted frame before and the closest at/after are kept
    first, then the others by temporal distance.
    """
    frames = sorted(cond_frames)
    if max_cond_frames == -1 or len(frames) <= max_cond_frames:
        return frames, []
    selected: list[int] = []
    before = [t for t in frames if t < frame_idx]
    after = [t for t in frames if t >= frame_idx]
    if before:
        selected.append(before[-1])
    if after:
        selected.append(after[0])
    rest = sorted((t for t in frames if t not in selected), key=lambda t: abs(t - frame_idx))
    selected += rest[: max_cond_frames - len(selected)]
    return selected, [t for t in frames if t not in selected]


def recent_memory_frames(frame_idx: int, num_maskmem: int, reverse: bool, stride: int = 1) -> list[tuple[int, int]]:
    """(t_pos, frame) for the non-prompted memory slots t_pos = 1 .. num_maskmem - 1.

    t_pos = num_maskmem - 1 is the adjacent frame; the others step back by `stride`.
    """
    slots = []
    for t_pos in range(1, num_maskmem):
        t_rel = num_maskmem - t_pos  # frames away from the current one
        if t_rel == 1:
            frame = frame_idx + 1 if reverse else frame_idx - 1
        elif not reverse:
            frame = ((frame_idx - 2) // stride) * stride - (t_rel - 2) * stride
        else:
            frame = -(-(frame_idx + 2) // stride) * stride + (t_rel - 2) * stride
        slots.append((t_pos, frame))
    return slots


def pointer_frames(frame_idx: int, num_frames: int | None, max_ptrs: int, reverse: bool) -> list[tuple[int, int]]:
    """(distance, frame) of the non-prompted frames whose object pointers are attended to."""
    frames = []
    for t_diff in range(1, max_ptrs):
        t = frame_idx + t_diff if reverse else frame_idx - t_diff
        if t < 0 or (num_frames is not None and t >= num_frames):
            break
        frames.append((t_diff, t))
    return frames


@dataclass(frozen=True)
class MemorySelection:
    """What one frame attends to, as frame indices; the caller maps them to its outputs."""

    cond_frames: list[int]  # prompted frames attended to (memory slot t_pos 0)
    recent: list[tuple[int, int]]  # (t_pos, frame) of tracked memories, t_pos 1 .. num_maskmem - 1
    pointers: list[tuple[int, int]]  # (temporal distance, frame) of object pointers, prompted frames first
    max_ptr_distance: int  # the distance that the pointers' temporal encoding is scaled by


def memory_window(cfg: Sam2Config) -> int:
    """How far back (frames) a frame's memory can reach: older tracked outputs are never
    attended to again, so their memories may be released."""
    return max(cfg.num_maskmem * cfg.memory_temporal_stride_for_eval, cfg.max_obj_ptrs_in_encoder)


def select(
    cfg: Sam2Config,
    frame_idx: int,
    cond_frames: Iterable[int],
    is_tracked: Callable[[int], bool],
    num_frames: int | None,
    reverse: bool = False,
) -> MemorySelection:
    """The memory bank of `frame_idx`: the one rule inference and training both follow.

    `cond_frames` are the object's prompted frames; `is_tracked(t)` says whether frame t
    has a tracked (non-prompted) output; `num_frames` is None for an unbounded stream.
    Prompted frames left out by `max_cond_frames_in_attn` may still serve as recent
    memories and pointers, as tracked frames do.
    """
    selected, unselected = select_cond_frames(frame_idx, cond_frames, cfg.max_cond_frames_in_attn)
    left_out = set(unselected)

    def usable(t: int) -> bool:
        return t in left_out or is_tracked(t)

    recent = [
        (t_pos, t)
        for t_pos, t in recent_memory_frames(frame_idx, cfg.num_maskmem, reverse, cfg.memory_temporal_stride_for_eval)
        if usable(t)
    ]
    max_ptrs = cfg.max_obj_ptrs_in_encoder if num_frames is None else min(num_frames, cfg.max_obj_ptrs_in_encoder)
    pointers: list[tuple[int, int]] = []
    if cfg.use_obj_ptrs_in_encoder:
        sign = -1 if reverse else 1
        for t in selected:
            in_past = t >= frame_idx if reverse else t <= frame_idx
            if cfg.only_obj_ptrs_in_the_past_for_eval and not in_past:
                continue
            distance = (frame_idx - t) * sign if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(frame_idx - t)
            pointers.append((distance, t))
        pointers += [(d, t) for d, t in pointer_frames(frame_idx, num_frames, max_ptrs, reverse) if usable(t)]
    return MemorySelection(selected, recent, pointers, max_ptrs - 1)
