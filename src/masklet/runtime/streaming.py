"""VideoStream over the exported graphs: frames pushed one at a time, each tracked as it
arrives, prompts on the newest frame; memory flat however long the stream runs."""

from __future__ import annotations

import os

import numpy as np

from ..errors import BadPrompt, NotReady
from ..inference.video_io import StreamSource
from .graphs import Graphs
from .video_predictor import State, VideoPredictor


class VideoStream:
    """push(frame), add_points / add_mask on it, track(); or step(frame, prompts)."""

    def __init__(self, graphs: VideoPredictor | Graphs | str | os.PathLike, fill_hole_area: int = 8) -> None:
        self.predictor = graphs if isinstance(graphs, VideoPredictor) else VideoPredictor(graphs, fill_hole_area=fill_hole_area)
        self.source = StreamSource(keep=2)
        self.state: State = self.predictor.init_state(self.source)

    @property
    def frame_idx(self) -> int:
        """Index of the newest frame (-1 before the first push)."""
        return self.source.num_frames - 1

    @property
    def obj_ids(self) -> list[int]:
        return self.state.obj_ids

    def close(self) -> None:
        self.state.close()

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(self, frame: np.ndarray) -> int:
        """Add the next (H, W, 3) uint8 RGB frame; returns its index."""
        return self.source.push(frame)

    def _newest(self, obj_id: int | None = None) -> int:
        if self.frame_idx < 0:
            raise NotReady("no frame yet: push(frame) before giving prompts")
        obj = self.state.objects.get(obj_id) if obj_id is not None else None
        if obj is not None:
            obj.reopen_as_prompted(self.frame_idx)  # a stream never comes back to fix a frame later
        return self.frame_idx

    def add_points(self, obj_id: int, points: object = None, labels: object = None, box: object = None,
                   normalize_coords: bool = True) -> tuple[int, list[int], np.ndarray]:
        """Clicks and/or a box for an object on the newest frame (a new object or a correction)."""
        frame_idx = self._newest(obj_id)
        return self.predictor.add_new_points_or_box(self.state, frame_idx, obj_id, points, labels, normalize_coords=normalize_coords, box=box)

    def add_mask(self, obj_id: int, mask: object) -> tuple[int, list[int], np.ndarray]:
        """An object's mask on the newest frame."""
        return self.predictor.add_new_mask(self.state, self._newest(obj_id), obj_id, mask)

    def track(self) -> tuple[int, list[int], np.ndarray]:
        """(frame_idx, obj_ids, masks (N, 1, H, W) logits) of the newest frame, remembered for the next ones."""
        frame_idx = self._newest()
        if not self.state.objects:
            return frame_idx, [], np.zeros((0, 1, self.state.video_height, self.state.video_width), np.float32)
        self.predictor.commit_prompts(self.state)
        return self.predictor.track_frame(self.state, frame_idx).as_tuple()

    def step(self, frame: np.ndarray, prompts: dict[int, dict] | None = None) -> tuple[int, list[int], np.ndarray]:
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
