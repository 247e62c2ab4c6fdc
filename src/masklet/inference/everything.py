"""Track everything: the automatic masks of a frame become objects, tracked through the
video; every K frames, automatic masks that no tracked object covers join as new objects
(masklet can add objects after tracking has started; the reference cannot)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import LimitError
from .mask_generator import GeneratedMask, MaskGenerator
from .session import VideoSession
from .video_predictor import FrameMasks, VideoPredictor

MAX_OBJECT_ID = 255  # object ids are the palette indices of the mask PNGs


def everything_labels(masks: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """One (H, W) label map of many masks, largest drawn first so smaller ones stay
    visible on top; label k+1 for masks[k] (uint8 up to 255 masks, else uint16)."""
    dtype = np.uint8 if len(masks) <= 255 else np.uint16
    labels = np.zeros(size, dtype=dtype)
    for k in sorted(range(len(masks)), key=lambda i: -int(masks[i].sum())):
        labels[masks[k]] = k + 1
    return labels


@dataclass(frozen=True)
class EverythingSettings:
    """Which automatic masks become objects."""

    min_area: int = 0  # pixels: smaller masks are left out
    max_objects: int = 20  # at most this many objects in all
    duplicate_iou: float = 0.5  # a mask overlapping a chosen one (or a tracked object) this much is the same thing
    reseed_every: int | None = None  # every K frames, look for new objects


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def choose_new(found: list[GeneratedMask], taken: list[np.ndarray], settings: EverythingSettings, room: int) -> list[np.ndarray]:
    """The automatic masks worth tracking: large enough, not a duplicate of a mask taken
    already (or of each other), the surest first (predicted IoU x stability), at most `room` of them."""
    chosen: list[np.ndarray] = []
    for m in sorted(found, key=lambda m: -m.predicted_iou * m.stability_score):
        if len(chosen) >= room:
            break
        if m.area < max(settings.min_area, 1):
            continue
        mask = m.mask
        if all(_iou(mask, t) < settings.duplicate_iou for t in (*taken, *chosen)):
            chosen.append(mask)
    return chosen


def track_everything(
    predictor: VideoPredictor,
    session: VideoSession,
    generator: MaskGenerator,
    settings: EverythingSettings = EverythingSettings(),
    start: int = 0,
    max_frames: int | None = None,
    on_new: Callable[[int, list[int]], None] | None = None,
) -> Iterator[FrameMasks]:
    """Automatic masks on frame `start` become objects, tracked forward; with
    `reseed_every`, new objects join every K frames. Yields every frame's masks."""
    if settings.max_objects > MAX_OBJECT_ID:
        raise LimitError(f"at most {MAX_OBJECT_ID} objects (object ids are palette indices)")
    end = session.num_frames - 1 if max_frames is None else min(session.num_frames - 1, start + max_frames)
    frame = start
    current: dict[int, np.ndarray] = {}  # obj_id -> its mask on `frame`
    while True:
        image = session.frames.source.frame(frame)
        room = settings.max_objects - len(session.objects)
        new = choose_new(generator.generate(image), list(current.values()), settings, room) if room > 0 else []
        next_id = max(session.objects, default=0) + 1
        ids = list(range(next_id, next_id + len(new)))
        for obj_id, mask in zip(ids, new):
            predictor.add_mask(session, frame, obj_id, mask)
        if on_new is not None and ids:
            on_new(frame, ids)
        if not session.objects:
            return  # nothing to track (yet): nothing found on the first frame
        stop = end if settings.reseed_every is None else min(end, frame + settings.reseed_every)
        for result in predictor.propagate(session, start_frame_idx=frame, max_frame_num_to_track=stop - frame):
            if result.frame_idx == stop and stop < end:
                current = {obj_id: (result.masks[i, 0] > 0).cpu().numpy() for i, obj_id in enumerate(result.obj_ids)}
                break  # this frame is yielded by the next round, with any new objects
            yield result
        else:
            return
        frame = stop

