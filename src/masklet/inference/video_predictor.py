"""Promptable video segmentation over a VideoSession: prompts, propagation, memory.

Each object is tracked on its own (as the reference does since SAM 2.1): a prompted
frame is decoded from its prompts, and every other frame from its features conditioned
on the object's memory bank. Prompts may arrive on any frame, before or after
propagation; a new object may join at any time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..model import Sam2
from ..model.sam2 import NO_OBJ_SCORE, MemoryTokens, TrackOutput
from .components import fill_holes
from .memory_bank import pointer_frames, recent_memory_frames, select_cond_frames
from .session import FrameFeatures, FrameOutput, ObjectTrack, PointPrompt, VideoSession
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


def _as_float_tensor(x: object, what: str) -> Tensor:
    try:
        return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=torch.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numeric array-like: {exc}") from None


class VideoPredictor:
    """Segments and tracks objects through a video held in a VideoSession."""

    def __init__(
        self,
        model: Sam2,
        fill_hole_area: int | None = None,
        non_overlap_masks: bool = False,
        add_all_frames_to_correct_as_cond: bool | None = None,
        frame_cache_size: int = 8,
    ) -> None:
        self.model = model
        cfg = model.cfg
        self.fill_hole_area = cfg.fill_hole_area if fill_hole_area is None else fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.add_all_frames_to_correct_as_cond = (
            cfg.add_all_frames_to_correct_as_cond if add_all_frames_to_correct_as_cond is None else add_all_frames_to_correct_as_cond
        )
        self.frame_cache_size = frame_cache_size

    @property
    def image_size(self) -> int:
        return self.model.cfg.image_size

    # -- session ---------------------------------------------------------------------

    def start(
        self,
        video: str | os.PathLike | list | np.ndarray | FrameSource,
        offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False,
    ) -> VideoSession:
        """Open a video (MP4, JPEG folder, frames or a FrameSource) as a new session."""
        source = open_video(video)
        device = self.model.device
        session = VideoSession(
            frames=FrameLoader(source, self.image_size, cache_size=self.frame_cache_size),
            device=device,
            storage_device=torch.device("cpu") if offload_state_to_cpu else device,
        )
        if source.num_frames > 0:
            self.frame_features(session, 0)  # fail early on an unreadable first frame
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
        """The memory bank of one object for a frame that is not its first prompted frame."""
        cfg = self.model.cfg
        if not obj.cond_outputs:
            raise RuntimeError(f"object {obj.obj_id} has no prompted frame to track from; add points, a box or a mask first")
        selected, unselected = select_cond_frames(frame_idx, obj.cond_outputs, cfg.max_cond_frames_in_attn)
        unselected_outputs = {t: obj.cond_outputs[t] for t in unselected}

        def tracked_output(t: int) -> FrameOutput | None:
            return obj.non_cond_outputs.get(t, unselected_outputs.get(t))

        memories = []
        slots = [(0, t, obj.cond_outputs[t]) for t in selected]
        for t_pos, t in recent_memory_frames(frame_idx, cfg.num_maskmem, reverse, cfg.memory_temporal_stride_for_eval):
            slots.append((t_pos, t, tracked_output(t)))
        for t_pos, t, out in slots:
            if out is None:
                continue
            memories.append((t_pos, self._ensure_memory(session, t, out), session.maskmem_pos_enc))

        pointers = []
        length = session.num_frames if session.length_known else None
        max_ptrs = cfg.max_obj_ptrs_in_encoder if length is None else min(length, cfg.max_obj_ptrs_in_encoder)
        if cfg.use_obj_ptrs_in_encoder:
            sign = -1 if reverse else 1
            for t in selected:
                in_past = t >= frame_idx if reverse else t <= frame_idx
                if cfg.only_obj_ptrs_in_the_past_for_eval and not in_past:
                    continue
                distance = (frame_idx - t) * sign if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(frame_idx - t)
                pointers.append((distance, obj.cond_outputs[t].obj_ptr))
            for distance, t in pointer_frames(frame_idx, length, max_ptrs, reverse):
                out = tracked_output(t)
                if out is not None:
                    pointers.append((distance, out.obj_ptr))
        return self.model.memory_tokens(memories, pointers, max_ptrs - 1)

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
    def _track_frame(
        self,
        session: VideoSession,
        obj: ObjectTrack,
        frame_idx: int,
        is_init_cond_frame: bool,
        points: PointPrompt | None,
        mask: Tensor | None,
        reverse: bool,
        run_mem_encoder: bool,
        prev_mask_logits: Tensor | None = None,
    ) -> FrameOutput:
        """One object on one frame: prompts and/or memory -> mask, pointer (and memory)."""
        model = self.model
        feats = self.frame_features(session, frame_idx)
        if mask is not None and model.cfg.use_mask_input_as_output_without_sam:
            result: TrackOutput = model.use_mask_as_output(feats.vision_feats, feats.high_res_feats, mask)
        else:
            memory = None if is_init_cond_frame else self._memory_for(session, obj, frame_idx, reverse)
            pix = model.condition_on_memory(feats.vision_feats, feats.vision_pos, memory)
            if prev_mask_logits is not None:
                mask = prev_mask_logits
            num_points = 0 if points is None else points.labels.shape[1]
            result = model.forward_sam_heads(
                pix,
                None if points is None else (points.coords, points.labels),
                mask,
                feats.high_res_feats,
                model.use_multimask(is_init_cond_frame, num_points),
            )
        pred_masks = result.low_res_masks
        if self.fill_hole_area > 0:
            pred_masks = fill_holes(pred_masks, self.fill_hole_area)
        out = FrameOutput(pred_masks.to(session.storage_device), result.obj_ptr, result.object_score_logits)
        if run_mem_encoder:
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
            raise ValueError("points and labels must be given together: one label (1 positive, 0 negative) per point")
        if points is None and box is None:
            raise ValueError("give points with labels, a box, or both")
        coords = torch.zeros(1, 0, 2) if points is None else _as_float_tensor(points, "points")
        lab = torch.zeros(1, 0, dtype=torch.int32) if labels is None else _as_float_tensor(labels, "labels").to(torch.int32)
        if coords.dim() == 2:
            coords = coords.unsqueeze(0)
        if lab.dim() == 1:
            lab = lab.unsqueeze(0)
        if coords.dim() != 3 or coords.shape[0] != 1 or coords.shape[-1] != 2:
            raise ValueError(f"points must have shape (N, 2) as x, y; got {tuple(coords.shape)}")
        if lab.shape != coords.shape[:2]:
            raise ValueError(f"{coords.shape[1]} points but labels of shape {tuple(lab.shape)}: give one label per point")
        if lab.numel() and not bool(((lab >= 0) & (lab <= 3)).all()):
            raise ValueError("labels must be 1 (positive click) or 0 (negative click); 2 and 3 mark box corners")
        if box is not None:
            if not clear_old_points:
                raise ValueError("a box must come before any click: add it with clear_old_points=True")
            b = _as_float_tensor(box, "box")
            if b.numel() != 4:
                raise ValueError(f"box must be x1, y1, x2, y2; got shape {tuple(b.shape)}")
            coords = torch.cat([b.reshape(1, 2, 2), coords], dim=1)
            lab = torch.cat([torch.tensor([[2, 3]], dtype=torch.int32), lab], dim=1)
        if normalize_coords:
            coords = coords / torch.tensor([session.video_width, session.video_height])
        coords = coords * self.image_size
        return coords.to(session.device), lab.to(session.device)

    def _refine_from(self, obj: ObjectTrack, frame_idx: int, pending: dict[int, FrameOutput]) -> Tensor | None:
        """The previous mask logits on a frame, used as the mask prompt of a new click."""
        prev = obj.output_at(frame_idx, pending)
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
        obj.points[frame_idx] = prompt
        obj.masks.pop(frame_idx, None)
        is_init, reverse, is_cond, pending = self._frame_role(obj, frame_idx)
        out = self._track_frame(
            session, obj, frame_idx, is_init, prompt, None, reverse, run_mem_encoder=False,
            prev_mask_logits=self._refine_from(obj, frame_idx, pending),
        )
        pending[frame_idx] = out
        return self._consolidate(session, frame_idx, is_cond)

    @torch.inference_mode()
    def add_mask(self, session: VideoSession, frame_idx: int, obj_id: int, mask: object) -> FrameMasks:
        """Give an object's mask on a frame (H, W) at any resolution; it is taken as is."""
        session.check_frame(frame_idx)
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask)
        if m.dim() != 2:
            raise ValueError(f"mask must be a 2-D (H, W) array, got shape {tuple(m.shape)}")
        if m.numel() == 0:
            raise ValueError("mask is empty (zero size)")
        m = m.bool().float()[None, None].to(session.device)
        if tuple(m.shape[-2:]) != (self.image_size, self.image_size):
            m = F.interpolate(m, size=(self.image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        obj = self._object(session, obj_id)
        obj.masks[frame_idx] = m
        obj.points.pop(frame_idx, None)
        is_init, reverse, is_cond, pending = self._frame_role(obj, frame_idx)
        pending[frame_idx] = self._track_frame(session, obj, frame_idx, is_init, None, m, reverse, run_mem_encoder=False)
        return self._consolidate(session, frame_idx, is_cond)

    def _frame_role(self, obj: ObjectTrack, frame_idx: int) -> tuple[bool, bool, bool, dict[int, FrameOutput]]:
        """Is this the object's first look at the frame, in which direction was it tracked,
        and does the new output become a prompted (conditioning) frame?"""
        is_init = frame_idx not in obj.tracked
        reverse = False if is_init else obj.tracked[frame_idx]
        is_cond = is_init or self.add_all_frames_to_correct_as_cond
        return is_init, reverse, is_cond, obj.pending_cond if is_cond else obj.pending_non_cond

    def _consolidate(self, session: VideoSession, frame_idx: int, is_cond: bool) -> FrameMasks:
        """Every object's newest mask on a frame (absent: very negative)."""
        side = self.image_size // 4
        masks = torch.full((len(session.objects), 1, side, side), NO_OBJ_SCORE, dtype=torch.float32, device=session.device)
        for i, obj in enumerate(session.objects.values()):
            out = obj.output_at(frame_idx, obj.pending_cond if is_cond else obj.pending_non_cond)
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
        obj = session.get_object(obj_id)
        obj.points.pop(frame_idx, None)
        obj.masks.pop(frame_idx, None)
        obj.pending_cond.pop(frame_idx, None)
        obj.pending_non_cond.pop(frame_idx, None)
        out = obj.cond_outputs.pop(frame_idx, None)
        if out is not None:
            obj.non_cond_outputs[frame_idx] = out
            obj.tracked.pop(frame_idx, None)
        if not need_output:
            return None
        is_cond = any(frame_idx in o.pending_cond for o in session.objects.values())
        return self._consolidate(session, frame_idx, is_cond)

    def remove_object(self, session: VideoSession, obj_id: int, strict: bool = False, need_output: bool = True) -> tuple[list[int], list[tuple[int, Tensor]]]:
        """Forget an object; returns the remaining ids and refreshed masks of its prompted frames."""
        if obj_id not in session.objects:
            if strict:
                raise KeyError(f"cannot remove object id {obj_id!r}: it does not exist; known ids: {session.obj_ids}")
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
                is_cond = any(frame_idx in o.pending_cond for o in session.objects.values())
                updated.append((frame_idx, self._consolidate(session, frame_idx, is_cond).masks))
        return session.obj_ids, updated

    # -- propagation ------------------------------------------------------------------

    @torch.inference_mode()
    def _preflight(self, session: VideoSession) -> None:
        """Encode the memories of newly prompted frames and file them as prompted/tracked."""
        if not session.objects:
            raise RuntimeError("no object has prompts yet: add points, a box or a mask first")
        for obj in session.objects.values():
            for pending, table in ((obj.pending_non_cond, obj.non_cond_outputs), (obj.pending_cond, obj.cond_outputs)):
                for frame_idx, out in pending.items():
                    if out.maskmem_features is None:
                        self.encode_memory_from_logits(session, frame_idx, out, from_points=True)
                    table[frame_idx] = out
                pending.clear()
            if not obj.cond_outputs:
                raise RuntimeError(f"object {obj.obj_id} has no prompts: add points, a box or a mask for it, or remove it")
            for frame_idx in obj.cond_outputs:
                obj.non_cond_outputs.pop(frame_idx, None)

    def propagate(
        self,
        session: VideoSession,
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
        reverse: bool = False,
    ) -> Iterator[FrameMasks]:
        """Track every object through the video, yielding each frame's masks as computed."""
        self._preflight(session)
        n = session.num_frames
        if start_frame_idx is None:
            start_frame_idx = min(t for obj in session.objects.values() for t in obj.cond_outputs)
        session.check_frame(start_frame_idx)
        if max_frame_num_to_track is None:
            max_frame_num_to_track = n
        if max_frame_num_to_track < 0:
            raise ValueError(f"max_frame_num_to_track must be >= 0, got {max_frame_num_to_track}")
        if reverse:
            end = max(start_frame_idx - max_frame_num_to_track, 0)
            order = range(start_frame_idx, end - 1, -1) if start_frame_idx > 0 else range(0)
        else:
            end = min(start_frame_idx + max_frame_num_to_track, n - 1)
            order = range(start_frame_idx, end + 1)
        for frame_idx in order:
            yield self._propagate_frame(session, frame_idx, reverse)

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
        if direction not in ("forward", "backward", "both"):
            raise ValueError(f"direction must be 'forward', 'backward' or 'both', got {direction!r}")
        self._preflight(session)
        if start_frame_idx is None:
            prompted = [t for obj in session.objects.values() for t in obj.cond_outputs]
            start_frame_idx = max(prompted) if direction == "backward" else min(prompted)
        if direction != "backward":
            yield from self.propagate(session, start_frame_idx, max_frame_num_to_track, reverse=False)
        if direction != "forward":
            backward = self.propagate(session, start_frame_idx, max_frame_num_to_track, reverse=True)
            for result in backward:
                if direction == "both" and result.frame_idx == start_frame_idx:
                    continue  # already given by the forward pass
                yield result

    @torch.inference_mode()
    def _propagate_frame(self, session: VideoSession, frame_idx: int, reverse: bool) -> FrameMasks:
        per_object = []
        for obj in session.objects.values():
            if frame_idx in obj.cond_outputs:
                masks = obj.cond_outputs[frame_idx].pred_masks.to(session.device)
            else:
                out = self._track_frame(session, obj, frame_idx, False, None, None, reverse, run_mem_encoder=True)
                obj.non_cond_outputs[frame_idx] = out
                masks = out.pred_masks
                self._release_old(session, obj, frame_idx, reverse)
            obj.tracked[frame_idx] = reverse
            per_object.append(masks)
        return self.frame_masks(session, frame_idx, torch.cat(per_object, dim=0).to(session.device))

    def _release_old(self, session: VideoSession, obj: ObjectTrack, frame_idx: int, reverse: bool) -> None:
        """Bound memory: outputs that slid out of the memory window lose their memory
        features (re-encoded if ever needed again) and spill their logits to disk."""
        cfg = self.model.cfg
        window = max(cfg.num_maskmem * cfg.memory_temporal_stride_for_eval, cfg.max_obj_ptrs_in_encoder)
        old = frame_idx + window if reverse else frame_idx - window
        out = obj.non_cond_outputs.get(old)
        if out is not None:
            out.maskmem_features = None
            if out.in_memory:
                out.spill(session.spill_path(obj.obj_id, old))
