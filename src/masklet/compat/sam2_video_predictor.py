"""`SAM2VideoPredictor` with the official interface, over masklet's VideoPredictor.

`inference_state` is masklet's typed VideoSession (it also reads like the official dict:
`inference_state["num_frames"]`); the official methods take it and return what the
official ones return: (frame_idx, obj_ids, masks) with masks as torch logits of shape
(num_objects, 1, H, W) at the video's resolution.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from tqdm import tqdm

from ..config import TrackerOptions
from ..inference.session import VideoSession
from ..inference.video_io import FrameSource
from ..inference.video_predictor import VideoPredictor
from ..model import Sam2


class SAM2VideoPredictor:
    """Drop-in for the official SAM2VideoPredictor; it wraps a model, it is not one."""

    def __init__(self, model: Sam2, options: TrackerOptions | None = None, **changes: object) -> None:
        self.model = model
        self.predictor = VideoPredictor(model, options, **changes)

    @classmethod
    def from_pretrained(cls, model_id: str = "masklet-nano", **kwargs: object) -> SAM2VideoPredictor:
        """A video predictor from a hub id ("facebook/sam2.1-hiera-tiny") or a model name."""
        from .build_sam import build_sam2_video_predictor_hf

        return build_sam2_video_predictor_hf(model_id, **kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def image_size(self) -> int:
        return self.model.cfg.image_size

    @property
    def fill_hole_area(self) -> int:
        return self.predictor.options.fill_hole_area

    @property
    def non_overlap_masks(self) -> bool:
        return self.predictor.options.non_overlap_masks

    def to(self, *args: object, **kwargs: object) -> SAM2VideoPredictor:
        """Move the model (the official predictor is a module); sessions started after it use the new device."""
        self.model.to(*args, **kwargs)
        return self

    def eval(self) -> SAM2VideoPredictor:
        self.model.eval()
        return self

    def train(self, mode: bool = True) -> SAM2VideoPredictor:
        self.model.train(mode)
        return self

    def init_state(
        self,
        video_path: str | os.PathLike | list | np.ndarray | FrameSource,
        offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False,
        async_loading_frames: bool = False,
    ) -> VideoSession:
        """Open a video. Frames are decoded on demand, so `offload_video_to_cpu` and
        `async_loading_frames` change nothing; the bar shows the frames indexed."""
        session = self.predictor.start(video_path, offload_video_to_cpu, offload_state_to_cpu)
        with tqdm(total=session.num_frames, desc="frame loading (on demand)") as bar:
            bar.update(session.num_frames)
        return session

    def add_new_points_or_box(
        self,
        inference_state: VideoSession,
        frame_idx: int,
        obj_id: int,
        points: object = None,
        labels: object = None,
        clear_old_points: bool = True,
        normalize_coords: bool = True,
        box: object = None,
    ) -> tuple[int, list[int], torch.Tensor]:
        r = self.predictor.add_points(inference_state, frame_idx, obj_id, points, labels, box, clear_old_points, normalize_coords)
        return r.frame_idx, r.obj_ids, r.masks

    def add_new_points(self, *args: object, **kwargs: object) -> tuple[int, list[int], torch.Tensor]:
        """Deprecated official alias of add_new_points_or_box."""
        return self.add_new_points_or_box(*args, **kwargs)

    def add_new_mask(self, inference_state: VideoSession, frame_idx: int, obj_id: int, mask: object) -> tuple[int, list[int], torch.Tensor]:
        r = self.predictor.add_mask(inference_state, frame_idx, obj_id, mask)
        return r.frame_idx, r.obj_ids, r.masks

    def propagate_in_video_preflight(self, inference_state: VideoSession) -> None:
        self.predictor._preflight(inference_state)

    def propagate_in_video(
        self,
        inference_state: VideoSession,
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[int, list[int], torch.Tensor]]:
        frames = self.predictor.propagate(inference_state, start_frame_idx, max_frame_num_to_track, reverse)
        for r in tqdm(frames, desc="propagate in video", total=self._frames_to_visit(inference_state, start_frame_idx, max_frame_num_to_track, reverse)):
            yield r.frame_idx, r.obj_ids, r.masks

    @staticmethod
    def _frames_to_visit(session: VideoSession, start: int | None, max_frames: int | None, reverse: bool) -> int | None:
        if start is None:
            return None  # known once the preflight has run
        reach = session.num_frames if max_frames is None else max_frames + 1
        return min(start + 1, reach) if reverse else min(session.num_frames - start, reach)

    def clear_all_prompts_in_frame(
        self, inference_state: VideoSession, frame_idx: int, obj_id: int, need_output: bool = True
    ) -> tuple[int, list[int], torch.Tensor] | None:
        r = self.predictor.clear_frame_prompts(inference_state, frame_idx, obj_id, need_output)
        return None if r is None else (r.frame_idx, r.obj_ids, r.masks)

    def remove_object(
        self, inference_state: VideoSession, obj_id: int, strict: bool = False, need_output: bool = True
    ) -> tuple[list[int], list[tuple[int, torch.Tensor]]]:
        return self.predictor.remove_object(inference_state, obj_id, strict, need_output)

    def reset_state(self, inference_state: VideoSession) -> None:
        self.predictor.reset(inference_state)
