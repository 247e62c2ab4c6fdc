"""Promptable video segmentation over a VideoSession: prompts, propagation, memory.

Each object is tracked on its own (as the reference does since SAM 2.1): a prompted
frame is decoded from its prompts, and every other frame from its features conditioned
on the object's memory bank. Prompts may arrive on any frame, before or after
propagation; a new object may join at any time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import TrackerOptions
from ..errors import BadPrompt, NotReady, UnknownObject
from ..model import Sam2
from ..model.sam2 import NO_OBJ_SCORE, MemoryTokens, TrackOutput
from ..presets import default_tracker_options
from .connected_components import fill_holes
from .frame_order import DIRECTIONS, default_start, frame_order, in_directions
from .memory_bank import memory_window, select
from .session import FrameFeatures, FrameOutput, FrameRole, ObjectTrack, PointPrompt, VideoSession
from .video_io import FrameLoader, FrameSource, open_video


def to_video_res(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Mask logits (N, 1, h, w) resized to the video's (H, W)."""
    if tuple(masks.shape[-2:]) == size:
        return masks
    return F.interpolate(masks, size=size, mode="bilinear", align_corners=False)


def non_overlapping(masks: Tensor) -> Tensor:
    """Each pixel kept for the object with the highest logit; the others pushed below -10."""
    if masks.shape[0] <= 1:
        return masks
    winner = masks.argmax(dim=0, keepdim=True)  # (1, 1, H, W)
    keep = winner == torch.arange(masks.shape[0], device=masks.device)[:, None, None, None]
    return torch.where(keep, masks, masks.clamp(max=-10.0))


@dataclass
class FrameMasks:
    """Masks of every object on one frame, at video resolution.

    They are resized from the model's masks when first read: a click that changes one
    object's mask need not resize all the others (a few ms each at 1080p on a CPU).
    """

    frame_idx: int
    obj_ids: list[int]
    low_res: Tensor  # (num_objects, 1, h, w) logits as the model made them
    video_size: tuple[int, int]  # (H, W)
    non_overlap: bool = False
    _masks: Tensor | None = field(default=None, repr=False)

    @property
    def masks(self) -> Tensor:
        """(num_objects, 1, H, W) logits."""
        if self._masks is None:
            video = to_video_res(self.low_res, self.video_size)
            self._masks = non_overlapping(video) if self.non_overlap else video
        return self._masks

    def mask(self, i: int) -> Tensor:
        """The i-th object's (1, H, W) logits, resizing only its own mask where it can."""
        if self._masks is not None or self.non_overlap:
            return self.masks[i]
        return to_video_res(self.low_res[i : i + 1], self.video_size)[0]

    def binary(self) -> np.ndarray:
        """(num_objects, H, W) bool masks."""
        return (self.masks[:, 0] > 0).cpu().numpy()

    def binary_mask(self, i: int) -> np.ndarray:
        """The i-th object's (H, W) bool mask."""
        return (self.mask(i)[0] > 0).cpu().numpy()


def _as_float_tensor(x: object, what: str) -> Tensor:
    try:
        return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=torch.float32)
    except (TypeError, ValueError) as exc:
        raise BadPrompt(f"{what} must be numeric array-like: {exc}") from None


class VideoPredictor:
    """Segments and tracks objects through a video held in a VideoSession.

    `options` (or their fields as keywords: `fill_hole_area=0`) say how the network is
    run; they change no weight.
    """

    def __init__(self, model: Sam2, options: TrackerOptions | None = None, frame_cache_size: int = 8, **changes: object) -> None:
        self.model = model
        base = options or default_tracker_options(model.cfg.name)  # EdgeTAM's differ
        self.options = replace(base, **{k: v for k, v in changes.items() if v is not None})
        self.frame_cache_size = frame_cache_size

    @property
    def image_size(self) -> int:
        return self.model.cfg.image_size

    backend = "torch"

    @property
    def model_name(self) -> str:
        return self.model.cfg.name

    @property
    def fill_hole_area(self) -> int:
        return self.options.fill_hole_area

    @property
    def non_overlap_masks(self) -> bool:
        return self.options.non_overlap_masks

    # -- session ---------------------------------------------------------------------

    def start(
        self,
        video: str | os.PathLike | list | np.ndarray | FrameSource,
        offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False,
    ) -> VideoSession:
        """Open a video (MP4, JPEG folder, frames or a FrameSource) as a new session.

        `offload_video_to_cpu` is accepted and has no effect: frames are decoded on demand
        and only a few are kept. `offload_state_to_cpu` keeps outputs and memories on the CPU.
        """
        source = open_video(video)
        device = self.model.device
        session = VideoSession(
            frames=FrameLoader(source, self.image_size, cache_size=self.frame_cache_size),
            device=device,
            storage_device=torch.device("cpu") if offload_state_to_cpu else device,
            owns_source=source is not video,
        )
        if source.num_frames > 0:
            try:
                self.frame_features(session, 0)  # fail early on an unreadable first frame
            except BaseException:
                session.close()
                raise
        return session

    def reset(self, session: VideoSession) -> None:
        session.clear()

    # -- per-frame computation ---------------------------------------------------------

    @torch.inference_mode()
    def frame_features(self, session: VideoSession, frame_idx: int) -> FrameFeatures:
        """Image-encoder features of a frame; only the latest frame's are kept."""
        cached = session.feature_cache
        if cached is not None and cached.frame_idx == frame_idx:
            return cached
        image = session.frames[frame_idx].to(session.device).unsqueeze(0)
        feats = self.model.forward_image(image)
        result = FrameFeatures(
            frame_idx=frame_idx,
            vision_feats=feats.backbone_fpn[-1],
            vision_pos=feats.vision_pos_enc[-1],
            high_res_feats=list(feats.backbone_fpn[:-1]),
        )
        session.feature_cache = result
        return result

    def _memory_for(self, session: VideoSession, obj: ObjectTrack, frame_idx: int, reverse: bool) -> MemoryTokens:
        """The memory bank of one object for a frame that is not its first look at it."""
        if not obj.cond_outputs:
            raise NotReady(f"object {obj.obj_id} has no prompted frame to track from; add points, a box or a mask first")
        num_frames = session.num_frames if session.length_known else None
        chosen = select(self.model.cfg, frame_idx, obj.cond_outputs, obj.non_cond_outputs.__contains__, num_frames, reverse)

        def tracked(t: int) -> FrameOutput:  # a tracked output, or a prompted one left out of the prompted slots
            out = obj.non_cond_outputs.get(t)
            return out if out is not None else obj.cond_outputs[t]

        slots = [(0, t, obj.cond_outputs[t]) for t in chosen.cond_frames] + [(t_pos, t, tracked(t)) for t_pos, t in chosen.recent]
        memories = [(t_pos, self._ensure_memory(session, t, out), session.maskmem_pos_enc) for t_pos, t, out in slots]
        cond = set(chosen.cond_frames)
        pointers = [(d, (obj.cond_outputs[t] if t in cond else tracked(t)).obj_ptr) for d, t in chosen.pointers]
        return self.model.memory_tokens(memories, pointers, chosen.max_ptr_distance)

    def _ensure_memory(self, session: VideoSession, frame_idx: int, out: FrameOutput) -> Tensor:
        """A frame's memory features, re-encoded from its mask if they were released."""
        if out.maskmem_features is None:
            self.encode_memory_from_logits(session, frame_idx, out, out.memory_from_points)
        return out.maskmem_features

    @torch.inference_mode()
    def encode_memory_from_logits(self, session: VideoSession, frame_idx: int, out: FrameOutput, from_points: bool) -> None:
        """Encode a frame's memory from its stored mask logits (the feature cache is kept)."""
        saved = session.feature_cache
        feats = self.frame_features(session, frame_idx)
        self._store_memory(session, out, feats, self._upsample(out.pred_masks.to(session.device)), from_points)
        if saved is not None:
            session.feature_cache = saved

    def _upsample(self, low_res: Tensor) -> Tensor:
        return F.interpolate(low_res.float(), size=(self.image_size,) * 2, mode="bilinear", align_corners=False)

    def _store_memory(
        self, session: VideoSession, out: FrameOutput, feats: FrameFeatures, high_res: Tensor, is_mask_from_pts: bool
    ) -> None:
        features, pos = self.model.encode_memory(feats.vision_feats, high_res, out.object_score_logits, is_mask_from_pts)
        # Memories are kept in bfloat16, as the reference does; computation stays float32.
        out.maskmem_features = features.to(torch.bfloat16).to(session.storage_device)
        out.memory_from_points = is_mask_from_pts
        if session.maskmem_pos_enc is None:
            session.maskmem_pos_enc = pos

    @torch.inference_mode()
    def _answer(
        self,
        session: VideoSession,
        obj: ObjectTrack,
        frame_idx: int,
        *,
        first_look: bool,
        reverse: bool,
        points: PointPrompt | None = None,
        mask: Tensor | None = None,
        prev_mask_logits: Tensor | None = None,
        remember: bool = False,
    ) -> FrameOutput:
        """One object on one frame: prompts and/or memory -> mask, pointer (and, when
        `remember`, its memory for later frames)."""
        model = self.model
        feats = self.frame_features(session, frame_idx)
        if mask is not None and model.cfg.use_mask_input_as_output_without_sam:
            result: TrackOutput = model.use_mask_as_output(feats.vision_feats, feats.high_res_feats, mask)
        else:
            memory = None if first_look else self._memory_for(session, obj, frame_idx, reverse)
            pix = model.condition_on_memory(feats.vision_feats, feats.vision_pos, memory, key_pool=self.options.key_pool)
            if prev_mask_logits is not None:
                mask = prev_mask_logits
            num_points = 0 if points is None else points.labels.shape[1]
            result = model.forward_sam_heads(
                pix,
                None if points is None else (points.coords, points.labels),
                mask,
                feats.high_res_feats,
                model.use_multimask(first_look, num_points),
            )
        pred_masks = result.low_res_masks
        if self.options.fill_hole_area > 0:
            pred_masks = fill_holes(pred_masks, self.options.fill_hole_area)
        out = FrameOutput(pred_masks.to(session.storage_device), result.obj_ptr, result.object_score_logits)
        if remember:
            self._store_memory(session, out, feats, result.high_res_masks, is_mask_from_pts=points is not None)
        return out

    # -- prompts --------------------------------------------------------------------

    def _object(self, session: VideoSession, obj_id: int) -> ObjectTrack:
        if isinstance(obj_id, bool) or not isinstance(obj_id, (int, np.integer)):
            raise TypeError(f"obj_id must be an integer, got {obj_id!r}")
        obj_id = int(obj_id)
        if obj_id not in session.objects:
            session.objects[obj_id] = ObjectTrack(obj_id)
        return session.objects[obj_id]

    def _prepare_points(
        self, session: VideoSession, points: object, labels: object, box: object, normalize_coords: bool, clear_old_points: bool
    ) -> tuple[Tensor, Tensor]:
        if (points is None) != (labels is None):
            raise BadPrompt("points and labels must be given together: one label (1 positive, 0 negative) per point")
        if points is None and box is None:
            raise BadPrompt("give points with labels, a box, or both")
        coords = torch.zeros(1, 0, 2) if points is None else _as_float_tensor(points, "points")
        lab = torch.zeros(1, 0, dtype=torch.int32) if labels is None else _as_float_tensor(labels, "labels").to(torch.int32)
        if coords.dim() == 2:
            coords = coords.unsqueeze(0)
        if lab.dim() == 1:
            lab = lab.unsqueeze(0)
        if coords.dim() != 3 or coords.shape[0] != 1 or coords.shape[-1] != 2:
            raise BadPrompt(f"points must have shape (N, 2) as x, y; got {tuple(coords.shape)}")
        if lab.shape != coords.shape[:2]:
            raise BadPrompt(f"{coords.shape[1]} points but labels of shape {tuple(lab.shape)}: give one label per point")
        if lab.numel() and not bool(((lab >= 0) & (lab <= 3)).all()):
            raise BadPrompt("labels must be 1 (positive click) or 0 (negative click); 2 and 3 mark box corners")
        if box is not None:
            if not clear_old_points:
                raise BadPrompt("a box must come before any click: add it with clear_old_points=True")
            b = _as_float_tensor(box, "box")
            if b.numel() != 4:
                raise BadPrompt(f"box must be x1, y1, x2, y2; got shape {tuple(b.shape)}")
            coords = torch.cat([b.reshape(1, 2, 2), coords], dim=1)
            lab = torch.cat([torch.tensor([[2, 3]], dtype=torch.int32), lab], dim=1)
        if normalize_coords:
            coords = coords / torch.tensor([session.video_width, session.video_height])
        coords = coords * self.image_size
        return coords.to(session.device), lab.to(session.device)

    def _refine_from(self, obj: ObjectTrack, frame_idx: int, role: FrameRole) -> Tensor | None:
        """The previous mask logits on a frame, used as the mask prompt of a new click."""
        prev = obj.latest(frame_idx, role.prompted)
        if prev is None:
            return None
        return prev.pred_masks.to(self.model.device).clamp(-32.0, 32.0)

    @torch.inference_mode()
    def add_points(
        self,
        session: VideoSession,
        frame_idx: int,
        obj_id: int,
        points: object = None,
        labels: object = None,
        box: object = None,
        clear_old_points: bool = True,
        normalize_coords: bool = True,
    ) -> FrameMasks:
        """Add clicks and/or a box for an object on a frame; its mask there comes back at once."""
        session.check_frame(frame_idx)
        coords, labels_t = self._prepare_points(session, points, labels, box, normalize_coords, clear_old_points)
        obj = self._object(session, obj_id)
        old = None if clear_old_points else obj.points.get(frame_idx)
        if old is not None:
            coords, labels_t = torch.cat([old.coords, coords], dim=1), torch.cat([old.labels, labels_t], dim=1)
        prompt = PointPrompt(coords, labels_t)
        obj.set_points(frame_idx, prompt)
        role = obj.role(frame_idx, self.options.add_all_frames_to_correct_as_cond)
        out = self._answer(session, obj, frame_idx, first_look=role.first_look, reverse=role.reverse, points=prompt,
                           prev_mask_logits=self._refine_from(obj, frame_idx, role))
        obj.file_answer(frame_idx, out, role)
        return self._consolidate(session, frame_idx, role.prompted)

    @torch.inference_mode()
    def add_mask(self, session: VideoSession, frame_idx: int, obj_id: int, mask: object) -> FrameMasks:
        """Give an object's mask on a frame (H, W) at any resolution; it is taken as is."""
        session.check_frame(frame_idx)
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask)
        if m.dim() != 2:
            raise BadPrompt(f"mask must be a 2-D (H, W) array, got shape {tuple(m.shape)}")
        if m.numel() == 0:
            raise BadPrompt("mask is empty (zero size)")
        m = m.bool().float()[None, None].to(session.device)
        if tuple(m.shape[-2:]) != (self.image_size, self.image_size):
            m = F.interpolate(m, size=(self.image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        obj = self._object(session, obj_id)
        obj.set_mask(frame_idx, m)
        role = obj.role(frame_idx, self.options.add_all_frames_to_correct_as_cond)
        out = self._answer(session, obj, frame_idx, first_look=role.first_look, reverse=role.reverse, mask=m)
        obj.file_answer(frame_idx, out, role)
        return self._consolidate(session, frame_idx, role.prompted)

    def _consolidate(self, session: VideoSession, frame_idx: int, prompted: bool) -> FrameMasks:
        """Every object's newest mask on a frame (absent: very negative); `prompted` says
        which pending answers count (those filed as prompted frames, or as corrections)."""
        side = self.image_size // 4
        masks = torch.full((len(session.objects), 1, side, side), NO_OBJ_SCORE, dtype=torch.float32, device=session.device)
        for i, obj in enumerate(session.objects.values()):
            out = obj.latest(frame_idx, prompted)
            if out is not None:
                masks[i : i + 1] = out.pred_masks.to(session.device)
        return self.frame_masks(session, frame_idx, masks)

    def frame_masks(self, session: VideoSession, frame_idx: int, low_res: Tensor) -> FrameMasks:
        """The masks (N, 1, h, w) of every object on a frame, as given back to the caller."""
        size = (session.video_height, session.video_width)
        return FrameMasks(frame_idx, session.obj_ids, low_res, size, self.non_overlap_masks)

    def clear_frame_prompts(self, session: VideoSession, frame_idx: int, obj_id: int, need_output: bool = True) -> FrameMasks | None:
        """Remove an object's prompts on a frame; a prompted frame becomes a tracked one."""
        session.check_frame(frame_idx)
        session.get_object(obj_id).clear_prompts(frame_idx)
        if not need_output:
            return None
        return self._consolidate(session, frame_idx, session.prompted_on(frame_idx))

    def remove_object(self, session: VideoSession, obj_id: int, strict: bool = False, need_output: bool = True) -> tuple[list[int], list[tuple[int, Tensor]]]:
        """Forget an object; returns the remaining ids and refreshed masks of its prompted frames."""
        if obj_id not in session.objects:
            if strict:
                raise UnknownObject(f"cannot remove object id {obj_id!r}: it does not exist; known ids: {session.obj_ids}")
            return session.obj_ids, []
        if len(session.objects) == 1:
            self.reset(session)
            return session.obj_ids, []
        obj = session.objects[obj_id]
        prompted = sorted(set(obj.points) | set(obj.masks))
        for frame_idx in prompted:
            self.clear_frame_prompts(session, frame_idx, obj_id, need_output=False)
        del session.objects[obj_id]
        updated = []
        if need_output:
            for frame_idx in prompted:
                updated.append((frame_idx, self._consolidate(session, frame_idx, session.prompted_on(frame_idx)).masks))
        return session.obj_ids, updated

    # -- propagation ------------------------------------------------------------------

    @torch.inference_mode()
    def commit_prompts(self, session: VideoSession) -> None:
        """Encode the memories of newly prompted (or corrected) frames and file them as
        prompted or tracked outputs: what a propagation does before its first frame."""
        for obj in session.objects.values():
            obj.commit_pending(lambda t, out: self.encode_memory_from_logits(session, t, out, from_points=True),
                               keep_corrections=self.options.keep_corrections)

    def _preflight(self, session: VideoSession) -> None:
        if not session.objects:
            raise NotReady("no object has prompts yet: add points, a box or a mask first")
        self.commit_prompts(session)
        for obj in session.objects.values():
            if not obj.cond_outputs:
                raise NotReady(f"object {obj.obj_id} has no prompts: add points, a box or a mask for it, or remove it")

    def propagate(
        self,
        session: VideoSession,
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
        reverse: bool = False,
    ) -> Iterator[FrameMasks]:
        """Track every object through the video, yielding each frame's masks as computed."""
        self._preflight(session)
        if start_frame_idx is None:
            start_frame_idx = min(t for obj in session.objects.values() for t in obj.cond_outputs)
        session.check_frame(start_frame_idx)
        for frame_idx in frame_order(session.num_frames, start_frame_idx, max_frame_num_to_track, reverse):
            yield self.track_frame(session, frame_idx, reverse=reverse)

    def propagate_directions(
        self,
        session: VideoSession,
        direction: str = "forward",
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
    ) -> Iterator[FrameMasks]:
        """Propagate "forward", "backward" or "both" (forward, then backward from the same start).

        Without a start, forward starts on the first prompted frame and backward on the last,
        so every prompted frame is covered; "both" starts on the first.
        """
        if direction not in DIRECTIONS:
            raise BadPrompt(f"direction must be 'forward', 'backward' or 'both', got {direction!r}")
        self._preflight(session)
        if start_frame_idx is None:
            start_frame_idx = default_start((t for obj in session.objects.values() for t in obj.cond_outputs), direction)
        yield from in_directions(lambda start, reverse: self.propagate(session, start, max_frame_num_to_track, reverse),
                                 direction, start_frame_idx, lambda r: r.frame_idx)

    @torch.inference_mode()
    def track_frame(self, session: VideoSession, frame_idx: int, *, reverse: bool = False) -> FrameMasks:
        """One step of propagation, the same for a video and a stream: every object's mask
        on a frame (its prompted answer there, or tracked from its memory bank), remembered
        for the frames after it, with what left the memory window let go."""
        window = memory_window(self.model.cfg)
        per_object = []
        for obj in session.objects.values():
            out = obj.kept_output(frame_idx)
            if out is None:
                out = self._answer(session, obj, frame_idx, first_look=False, reverse=reverse, remember=True)
                obj.record_tracked(frame_idx, out)
            obj.mark_tracked(frame_idx, reverse)
            session.forget_old(obj, frame_idx, reverse, window)
            per_object.append(out.pred_masks.to(session.device))
        return self.frame_masks(session, frame_idx, torch.cat(per_object, dim=0))
