"""Prompts as data: clicks, a box or a mask for one object on one frame.

The command line, JSON prompt files and the HTTP service all describe prompts this way,
and `apply_prompt` hands one to a video predictor.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import BadPrompt, FrameOutOfRange, LimitError, NotFound
from .masks_io import read_mask_png

if TYPE_CHECKING:  # the runtime's predictor serves too: nothing here needs torch
    from .inference.session import VideoSession
    from .inference.video_predictor import FrameMasks, VideoPredictor

MAX_POINTS = 1000  # clicks per object and frame: each is a token every decoder layer attends over

@dataclass
class Prompt:
    """What the user gave for object `obj_id` on frame `frame`, in video pixels."""

    frame: int = 0
    obj_id: int = 1
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # 1 positive, 0 negative
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2
    mask: np.ndarray | None = None  # (H, W) bool

    def check(self, num_frames: int, height: int, width: int, max_points: int = MAX_POINTS) -> None:
        """Raise ValueError/IndexError (LimitError for too many points) naming what does not fit this video."""
        where = f"object {self.obj_id} on frame {self.frame}"
        if len(self.points) > max_points:
            raise LimitError(f"{where}: {len(self.points)} points; the limit is {max_points} points per object and frame")
        if not 0 <= self.frame < num_frames:
            raise FrameOutOfRange(f"frame {self.frame} out of range: the video has {num_frames} frames (0..{num_frames - 1})")
        if not 1 <= self.obj_id <= 255:
            raise BadPrompt(f"object id {self.obj_id} out of range: use 1..255 (it is the palette index of the mask PNGs)")
        if self.mask is not None and (self.points or self.box is not None):
            raise BadPrompt(f"{where}: give either a mask or points/a box, not both")
        if self.mask is None and not self.points and self.box is None:
            raise BadPrompt(f"{where}: no points, box or mask")
        for x, y in self.points:
            if not (0 <= x < width and 0 <= y < height):
                raise BadPrompt(f"{where}: point ({x:g}, {y:g}) lies outside the {width}x{height} frame")
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            if not all(math.isfinite(v) for v in self.box):
                raise BadPrompt(f"{where}: box {self.box} has a coordinate that is not a finite number")
            if not (x1 < x2 and y1 < y2):
                raise BadPrompt(f"{where}: box {self.box} must be x1,y1,x2,y2 with x1 < x2 and y1 < y2")
            if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
                raise BadPrompt(f"{where}: box {self.box} lies outside the {width}x{height} frame")
        if self.mask is not None and self.mask.shape != (height, width):
            h, w = self.mask.shape[:2] if self.mask.ndim >= 2 else (0, 0)
            raise BadPrompt(f"{where}: the mask is {w}x{h}, the video {width}x{height}: give a mask of the video's size")


def apply_prompt(
    predictor: VideoPredictor, session: VideoSession, prompt: Prompt, clear_old_points: bool = True, max_points: int = MAX_POINTS
) -> FrameMasks:
    """Give a prompt to the predictor; the masks of every object on that frame come back.

    A box always starts the object's prompts on that frame afresh (SAM 2 takes a box only
    before any click); clicks without a box add to earlier ones unless `clear_old_points`,
    and the sum is held to `max_points`.
    """
    prompt.check(session.num_frames, session.video_height, session.video_width, max_points)
    if prompt.points and not clear_old_points and prompt.box is None and prompt.obj_id in session.objects:
        old = session.objects[prompt.obj_id].points.get(prompt.frame)
        held = 0 if old is None else int((old.labels < 2).sum())  # box corners (labels 2, 3) are not clicks
        if held + len(prompt.points) > max_points:
            raise LimitError(f"object {prompt.obj_id} on frame {prompt.frame}: {held} points already and {len(prompt.points)} more; "
                             f"the limit is {max_points} points per object and frame (clear the old points first)")
    if prompt.mask is not None:
        return predictor.add_mask(session, prompt.frame, prompt.obj_id, prompt.mask)
    points = np.array(prompt.points, dtype=np.float32).reshape(-1, 2) if prompt.points else None
    labels = np.array(prompt.labels, dtype=np.int32) if prompt.points else None
    box = np.array(prompt.box, dtype=np.float32) if prompt.box is not None else None
    return predictor.add_points(
        session, prompt.frame, prompt.obj_id, points=points, labels=labels, box=box,
        clear_old_points=clear_old_points or box is not None, normalize_coords=True
    )


# -- text forms --------------------------------------------------------------------

_TARGET = re.compile(r"^(?P<obj>\d+)?(?:@(?P<frame>\d+))?:(?P<rest>.*)$")


def split_target(text: str, obj_id: int, frame: int) -> tuple[int, int, str]:
    """`[OBJ][@FRAME]:VALUE` -> (obj, frame, VALUE); without the prefix the defaults apply."""
    m = _TARGET.match(text)
    if m and (m["obj"] or m["frame"]):
        return int(m["obj"] or obj_id), int(m["frame"] if m["frame"] is not None else frame), m["rest"]
    return obj_id, frame, text


def parse_numbers(text: str, counts: tuple[int, ...], what: str, example: str) -> list[float]:
    """Comma-separated numbers, as many as one of `counts`, else a ValueError with an example."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in counts:
        raise BadPrompt(f"{what} {text!r} is not {example}")
    return values


def parse_point(text: str) -> tuple[float, float, int]:
    """`X,Y` or `X,Y,LABEL` (label 1 positive, 0 negative)."""
    values = parse_numbers(text, (2, 3), "point", "X,Y or X,Y,LABEL (e.g. 640,400 or 640,400,0)")
    label = int(values[2]) if len(values) == 3 else 1
    if len(values) == 3 and values[2] not in (0, 1):
        raise BadPrompt(f"point {text!r}: the label must be 1 (positive) or 0 (negative)")
    return values[0], values[1], label


def parse_box(text: str) -> tuple[float, float, float, float]:
    """`X1,Y1,X2,Y2`."""
    x1, y1, x2, y2 = parse_numbers(text, (4,), "box", "X1,Y1,X2,Y2 (e.g. 100,80,500,400)")
    return x1, y1, x2, y2


def prompts_from_args(
    points: tuple[str, ...], boxes: tuple[str, ...], masks: tuple[str, ...], obj_id: int = 1, frame: int = 0
) -> list[Prompt]:
    """Command-line prompts, grouped by (object, frame) in the order first given."""
    table: dict[tuple[int, int], Prompt] = {}

    def at(o: int, f: int) -> Prompt:
        return table.setdefault((o, f), Prompt(frame=f, obj_id=o))

    for text in points:
        o, f, rest = split_target(text, obj_id, frame)
        x, y, label = parse_point(rest)
        p = at(o, f)
        p.points.append((x, y))
        p.labels.append(label)
    for text in boxes:
        o, f, rest = split_target(text, obj_id, frame)
        p = at(o, f)
        if p.box is not None:
            raise BadPrompt(f"two boxes for object {o} on frame {f}: one box per object and frame")
        p.box = parse_box(rest)
    for text in masks:
        o, f, rest = split_target(text, obj_id, frame)
        at(o, f).mask = read_mask_png(rest, o)
    return list(table.values())


def load_prompts_file(path: str | os.PathLike) -> list[Prompt]:
    """Prompts from JSON: a list (or {"prompts": [...]}) of {"frame", "obj_id" (or "obj"),
    "points", "labels", "box", "mask" (a PNG path, relative to the file)}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"prompts file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise BadPrompt(f"prompts file {path} is not valid JSON: {exc}") from None
    items = data.get("prompts") if isinstance(data, dict) else data
    return prompts_from_json(items, path.parent, where=f"prompts file {path}")


def prompts_from_json(items: object, base: Path, where: str = "prompts") -> list[Prompt]:
    """Prompts from the JSON form (a list of {"frame", "obj_id", "points", "labels", "box",
    "mask"}), mask paths relative to `base`."""
    if not isinstance(items, list):
        raise BadPrompt(f'{where}: expected a list of prompts or {{"prompts": [...]}}')
    prompts = []
    for i, item in enumerate(items):
        entry = f"{where}, entry {i}"
        if not isinstance(item, dict):
            raise BadPrompt(f"{entry}: expected an object with frame, obj_id, points/labels, box or mask")
        unknown = set(item) - {"frame", "obj_id", "obj", "points", "labels", "box", "mask"}
        if unknown:
            raise BadPrompt(f"{entry}: unknown keys {sorted(unknown)}")
        try:
            p = Prompt(frame=int(item.get("frame", 0)), obj_id=int(item.get("obj_id", item.get("obj", 1))))
            pts = item.get("points") or []
            p.points = [(float(x), float(y)) for x, y in pts]
            p.labels = [int(v) for v in item.get("labels", [1] * len(pts))]
            if item.get("box") is not None:
                x1, y1, x2, y2 = (float(v) for v in item["box"])
                p.box = (x1, y1, x2, y2)
        except (TypeError, ValueError):
            raise BadPrompt(f"{entry}: points are [[x, y], ...], labels [1 or 0, ...], box [x1, y1, x2, y2]") from None
        if len(p.labels) != len(p.points) or any(v not in (0, 1) for v in p.labels):
            raise BadPrompt(f"{entry}: one label (1 or 0) per point")
        if item.get("mask") is not None:
            p.mask = read_mask_png(Path(base) / str(item["mask"]), p.obj_id)
        prompts.append(p)
    return prompts
