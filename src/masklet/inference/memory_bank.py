"""Which memories and object pointers a frame attends to: pure functions of frame indices.

The memory bank of a frame holds the prompted (conditioning) frames, which may lie in
the future, plus the num_maskmem - 1 most recent tracked frames before it (after it when
tracking in reverse), and object pointers from up to max_obj_ptrs_in_encoder frames.
"""

from __future__ import annotations

from collections.abc import Iterable


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
