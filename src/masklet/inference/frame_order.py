"""Which frames a propagation visits, and in what order (torch-free: the torch path and
masklet.runtime share it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ..errors import BadPrompt

R = TypeVar("R")
DIRECTIONS = ("forward", "backward", "both")


def frame_order(num_frames: int, start: int, max_frames: int | None, reverse: bool) -> range:
    """The frames from `start` on (or back), at most `max_frames` past it."""
    if max_frames is None:
        max_frames = num_frames
    if max_frames < 0:
        raise BadPrompt(f"max_frame_num_to_track must be >= 0, got {max_frames}")
    if reverse:
        end = max(start - max_frames, 0)
        return range(start, end - 1, -1) if start > 0 else range(0)
    return range(start, min(start + max_frames, num_frames - 1) + 1)


def default_start(prompted: Iterable[int], direction: str) -> int:
    """Without a start, forward starts on the first prompted frame and backward on the
    last, so every prompted frame is covered; "both" starts on the first."""
    frames = list(prompted)
    return max(frames) if direction == "backward" else min(frames)


def in_directions(propagate: Callable[[int, bool], Iterator[R]], direction: str, start: int,
                  frame_of: Callable[[R], int]) -> Iterator[R]:
    """Propagate "forward", "backward" or "both" (forward, then backward from the same
    start, which is given once); `propagate(start, reverse)` runs one pass."""
    if direction not in DIRECTIONS:
        raise BadPrompt(f"direction must be 'forward', 'backward' or 'both', got {direction!r}")
    if direction != "backward":
        yield from propagate(start, False)
    if direction != "forward":
        for result in propagate(start, True):
            if direction == "both" and frame_of(result) == start:
                continue  # already given by the forward pass
            yield result
