"""SAM2VideoPredictor's interface over the exported graphs: prompts on any frame, then
masklets through the video, with the torch path's bookkeeping (masklet.inference's
ObjectTrack and memory-bank selection, both torch-free) and numpy in between."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import BadPrompt, FrameOutOfRange, NotReady, UnknownObject
from ..inference.frame_order import DIRECTIONS, default_start, frame_order, in_directions
from ..inference.memory_bank import memory_window, select
from ..inference.object_track import ObjectTrack, PointPrompt
from ..inference.video_io import FrameLoader, FrameSource, open_video
from .graphs import Graphs
from .image_predictor import NOT_A_POINT, choose_masks
from .transforms import fill_holes, resize, round_to_bfloat16


class Output:
    """One object's answer on one frame (numpy), as ObjectTrack files it. Once it leaves
    the memory window its memory is released (re-encoded if ever needed) and its logits
    move to a scratch file, so memory stays flat on long videos."""

    def __init__(self, pred_masks: np.ndarray, obj_ptr: np.ndarray, object_score_logits: np.ndarray) -> None:
        self._pred_masks: np.ndarray | None = pred_masks  # (1, 1, h, w) logits
        self._spill: Path | None = None
        self.obj_ptr = obj_ptr  # (1, C)
        self.object_score_logits = object_score_logits  # (1, 1)
        self.maskmem_features: np.ndarray | None = None  # (1, N, C_mem) tokens, bfloat16-rounded
        self.memory_from_points = False

    @property
    def pred_masks(self) -> np.ndarray:
        if self._pred_masks is None:
            return np.load(self._spill)
        return self._pred_masks

    @pred_masks.setter
    def pred_masks(self, value: np.ndarray) -> None:
        self._pred_masks, self._spill = value, None

    @property
    def in_memory(self) -> bool:
        return self._pred_masks is not None

    def spill(self, path: Path) -> None:
        if self._pred_masks is not None:
            np.save(path, self._pred_masks)
            self._spill, self._pred_masks = path, None


@dataclass
class Features:
    frame_idx: int
    vision_feats: np.ndarray  # (1, C, h, w)
    vision_pos: np.ndarray
    fine0: np.ndarray
    fine1: np.ndarray


@dataclass
class FrameMasks:
    """Masks of every object on one frame, resized to the video when first read (a click
    that changes one object's mask need not resize the others)."""

    frame_idx: int
    obj_ids: list[int]
    low_res: np.ndarray  # (num_objects, 1, h, w) logits as the decoder made them
    video_size: tuple[int, int]  # (H, W)
    _masks: np.ndarray | None = field(default=None, repr=False)

    @property
    def masks(self) -> np.ndarray:
        """(num_objects, 1, H, W) logits."""
        if self._masks is None:
            self._masks = resize(self.low_res, self.video_size)
        return self._masks

    def mask(self, i: int) -> np.ndarray:
        """The i-th object's (1, H, W) logits."""
        if self._masks is not None:
            return self._masks[i]
        return resize(self.low_res[i : i + 1], self.video_size)[0]

    def binary(self) -> np.ndarray:
        """(num_objects, H, W) bool masks."""
        return self.masks[:, 0] > 0

    def binary_mask(self, i: int) -> np.ndarray:
        """The i-th object's (H, W) bool mask."""
        return self.mask(i)[0] > 0

    def as_tuple(self) -> tuple[int, list[int], np.ndarray]:
        """(frame_idx, obj_ids, masks): what the official methods return."""
        return self.frame_idx, self.obj_ids, self.masks


@dataclass
class State:
    """What init_state returns: the video and every object's prompts and outputs."""

    frames: FrameLoader
    objects: dict[int, ObjectTrack] = field(default_factory=dict)
    features: Features | None = None
    memory_pos: np.ndarray | None = None  # (1, N, C_mem): the same for every memory
    scratch: Path | None = None  # spilled mask logits of frames that left the memory window
    owns_source: bool = True  # close() closes the video too (not one the caller opened and handed in)

    def spill_path(self, obj_id: int, frame_idx: int) -> Path:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="masklet-runtime-"))
        return self.scratch / f"{obj_id}_{frame_idx}.npy"

    def close(self) -> None:
        """Remove the scratch files and close the video."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
        if self.owns_source:
            self.frames.source.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def video_height(self) -> int:  # read from the source: a stream knows it at its first frame
        return self.frames.source.height

    @property
    def video_width(self) -> int:
        return self.frames.source.width

    @property
    def obj_ids(self) -> list[int]:
        return list(self.objects)

    @property
    def length_known(self) -> bool:
        """False for a stream: its length is unbounded, whatever has arrived so far."""
        return not getattr(self.frames.source, "unbounded", False)

    def check_frame(self, frame_idx: int) -> None:
        if not 0 <= frame_idx < self.num_frames:
            raise FrameOutOfRange(f"frame_idx {frame_idx} out of range: the video has {self.num_frames} frames (0..{self.num_frames - 1})")

    def get_object(self, obj_id: int) -> ObjectTrack:
        if obj_id not in self.objects:
            raise UnknownObject(f"unknown object id {obj_id!r}; known ids: {self.obj_ids}")
        return self.objects[obj_id]


def sine_encoding_1d(positions: np.ndarray, dim: int, temperature: float = 10000.0) -> np.ndarray:
    """Sine/cosine encoding of scalar positions (N,) -> (N, dim), as the torch path's."""
    half = dim // 2
    dim_t = np.arange(half, dtype=np.float32)
    dim_t = np.float32(temperature) ** (2 * (dim_t // 2) / half).astype(np.float32)
    angles = positions.astype(np.float32)[:, None] / dim_t
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1).astype(np.float32)


class VideoPredictor:
    """init_state, add_new_points_or_box, add_new_mask, propagate_in_video, remove_object,
    reset_state: the official video predictor's methods over the exported graphs.

    With `apply_postprocessing` (as the official builder), masks from clicks are binarised
    for the memory and holes up to `fill_hole_area` pixels are filled."""

    def __init__(self, graphs: Graphs | str | os.PathLike, fill_hole_area: int = 8, apply_postprocessing: bool = True,
                 int8: bool = False) -> None:
        self.graphs = graphs if isinstance(graphs, Graphs) else Graphs(graphs, int8=int8)
        m = self.graphs.manifest
        self.cfg = SimpleNamespace(**{k: v for k, v in m["config"].items() if not isinstance(v, dict)})
        self.decoder = dict(m, dynamic_multimask_via_stability=m["dynamic_multimask_via_stability"] or apply_postprocessing)
        self.binarize = bool(self.cfg.binarize_mask_from_pts_for_mem_enc or apply_postprocessing)
        self.fill_hole_area = fill_hole_area if apply_postprocessing else 0
        self.params = self.graphs.params
        self.size = self.graphs.image_size
        # The model's own tracker default (EdgeTAM keeps corrections, as its reference does).
        self.keep_corrections = bool(m.get("tracker", {}).get("keep_corrections", False))

    # -- session ----------------------------------------------------------------------

    @property
    def image_size(self) -> int:
        return self.size

    @property
    def model_name(self) -> str:
        return str(self.graphs.manifest["model"])

    backend = "onnx"
    non_overlap_masks = False  # as the official builder: each object's mask is its own

    def start(self, video: str | os.PathLike | FrameSource) -> State:
        """Open a video (an MP4, a JPEG folder, an image or a FrameSource) as a new session,
        frames decoded on demand; a FrameSource handed in stays the caller's to close."""
        source = video if isinstance(video, FrameSource) else open_video(video)
        return State(FrameLoader(source, self.size, as_numpy=True), owns_source=source is not video)

    def init_state(self, video_path: str | os.PathLike | FrameSource, **kwargs: object) -> State:
        """A session on a video (an MP4, a JPEG folder, an image), frames decoded on demand."""
        state = self.start(video_path)
        state.owns_source = True  # as before: the state closes whatever it reads
        return state

    def reset_state(self, state: State) -> None:
        state.objects.clear()
        if state.scratch is not None:
            shutil.rmtree(state.scratch, ignore_errors=True)
            state.scratch = None

    def _object(self, state: State, obj_id: int) -> ObjectTrack:
        if obj_id not in state.objects:
            state.objects[obj_id] = ObjectTrack(int(obj_id))
        return state.objects[obj_id]

    def remove_object(self, state: State, obj_id: int, strict: bool = False, need_output: bool = True) -> tuple[list[int], list]:
        """Forget an object; the remaining ids and the refreshed masks of its prompted frames."""
        if obj_id not in state.objects:
            if strict:
                raise UnknownObject(f"cannot remove object id {obj_id!r}: it does not exist; known ids: {state.obj_ids}")
            return state.obj_ids, []
        if len(state.objects) == 1:
            self.reset_state(state)
            return state.obj_ids, []
        obj = state.objects[obj_id]
        prompted = sorted(set(obj.points) | set(obj.masks))
        for frame_idx in prompted:
            obj.clear_prompts(frame_idx)
        del state.objects[obj_id]
        if not need_output:
            return state.obj_ids, []
        updated = []
        for frame_idx in prompted:
            pending = any(o.has_pending_prompt(frame_idx) for o in state.objects.values())
            updated.append((frame_idx, self._consolidate(state, frame_idx, pending).masks))
        return state.obj_ids, updated

    # -- one frame --------------------------------------------------------------------

    def _features(self, state: State, frame_idx: int) -> Features:
        if state.features is None or state.features.frame_idx != frame_idx:
            image = state.frames[frame_idx][None]
            state.features = Features(frame_idx, *self.graphs.run("image_encoder", image=image))
        return state.features

    def _heads(self, feats: Features, pix: np.ndarray, coords: np.ndarray, labels: np.ndarray, mask: np.ndarray | None,
               multimask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prompt encoder and mask decoder on one conditioned embedding: mask, pointer, score."""
        coords = np.concatenate([coords, np.zeros((1, 1, 2), np.float32)], axis=1)  # the trailing "not a point"
        labels = np.concatenate([labels, np.full((1, 1), NOT_A_POINT, np.int32)], axis=1)
        side = self.decoder["mask_input_size"]
        if mask is not None and tuple(mask.shape[-2:]) != tuple(side):
            mask = resize(mask, tuple(side), antialias=True)
        masks, iou, score, ptrs = self.graphs.run(
            "prompt_decoder", image_embed=pix, fine0=feats.fine0, fine1=feats.fine1, point_coords=coords.astype(np.float32),
            point_labels=labels.astype(np.int32), mask_input=np.zeros((1, 1, *side), np.float32) if mask is None else mask.astype(np.float32),
            has_mask_input=np.array([0.0 if mask is None else 1.0], np.float32))
        present = score > 0  # (1, 1)
        if self.decoder["pred_obj_scores"]:
            masks = np.where(present[:, :, None, None], masks, np.float32(self.decoder["no_obj_score"]))
        if multimask:
            best = 1 + int(iou[0, 1:].argmax())
            low = masks[:, best : best + 1]
            token = best if self.decoder["use_multimask_token_for_obj_ptr"] else 0
        else:
            low, _, _ = choose_masks(self.decoder, masks, iou, False)
            token = 0
        ptr = ptrs[:, token]
        return low.astype(np.float32), self._pointer(ptr, present.astype(np.float32)), score

    def _pointer(self, ptr: np.ndarray, present: np.ndarray) -> np.ndarray:
        if not self.decoder["pred_obj_scores"]:
            return ptr
        if self.decoder["fixed_no_obj_ptr"]:
            ptr = present * ptr
        return ptr + (1 - present) * self.params["no_obj_ptr"][None]

    def _memory_tokens(self, state: State, obj: ObjectTrack, frame_idx: int, reverse: bool) -> dict[str, np.ndarray]:
        cfg = self.cfg
        num_frames = state.num_frames if state.length_known else None
        chosen = select(cfg, frame_idx, obj.cond_outputs, obj.non_cond_outputs.__contains__, num_frames, reverse)

        def tracked(t: int) -> Output:
            out = obj.non_cond_outputs.get(t)
            return out if out is not None else obj.cond_outputs[t]

        slots = [(0, t, obj.cond_outputs[t]) for t in chosen.cond_frames] + [(t_pos, t, tracked(t)) for t_pos, t in chosen.recent]
        for _, t, out in slots:
            if out.maskmem_features is None:  # released when it left the window: encode it again
                self._encode_from_logits(state, t, out, out.memory_from_points)
        slots = [(t_pos, out) for t_pos, _, out in slots]
        tpos = self.params["maskmem_tpos_enc"]
        memory = np.concatenate([out.maskmem_features for _, out in slots], axis=1)
        memory_pos = np.concatenate([state.memory_pos + tpos[cfg.num_maskmem - t_pos - 1][None, None] for t_pos, _ in slots], axis=1)
        cond = set(chosen.cond_frames)
        c, c_mem = self.params["no_mem_embed"].shape[0], memory.shape[-1]
        # No pointer at all happens (an object tracked from before its prompted frame).
        ptrs = np.stack([(obj.cond_outputs[t] if t in cond else tracked(t)).obj_ptr[0] for _, t in chosen.pointers]
                        or [np.zeros((0, c), np.float32)])[None].reshape(1, -1, c)
        if cfg.add_tpos_enc_to_obj_ptrs:
            distances = np.array([d for d, _ in chosen.pointers], np.float32) / max(chosen.max_ptr_distance, 1)
            ptr_pos = sine_encoding_1d(distances, c if cfg.proj_tpos_enc_in_obj_ptrs else c_mem)
            if cfg.proj_tpos_enc_in_obj_ptrs:
                ptr_pos = ptr_pos @ self.params["obj_ptr_tpos_proj.weight"].T + self.params["obj_ptr_tpos_proj.bias"]
            ptr_pos = ptr_pos[None]
        else:
            ptr_pos = np.zeros((1, ptrs.shape[1], c_mem), np.float32)
        split = c // c_mem
        if split > 1:  # each pointer becomes C / C_mem tokens of the memory width
            ptrs = ptrs.reshape(1, -1, split, c_mem).reshape(1, -1, c_mem)
            ptr_pos = np.repeat(ptr_pos, split, axis=1)
        return {"memory": memory.astype(np.float32), "memory_pos": memory_pos.astype(np.float32),
                "pointers": ptrs.astype(np.float32), "pointers_pos": ptr_pos.astype(np.float32)}

    def _answer(self, state: State, obj: ObjectTrack, frame_idx: int, *, first_look: bool, reverse: bool,
                points: PointPrompt | None = None, mask: np.ndarray | None = None, prev: np.ndarray | None = None,
                remember: bool = False) -> Output:
        feats = self._features(state, frame_idx)
        if mask is not None and self.cfg.use_mask_input_as_output_without_sam:
            out, high_res = self._mask_as_output(feats, mask)
        else:
            if first_look:
                pix = feats.vision_feats + self.params["no_mem_embed"][None, :, None, None]
            else:
                if not obj.cond_outputs:
                    raise NotReady(f"object {obj.obj_id} has no prompted frame to track from; add points, a box or a mask first")
                pix = self.graphs.run("memory_attention", vision_feats=feats.vision_feats, vision_pos=feats.vision_pos,
                                      **self._memory_tokens(state, obj, frame_idx, reverse))[0]
            mask_in = prev if prev is not None else mask
            n_points = 0 if points is None else points.labels.shape[1]
            cfg = self.cfg
            multimask = (cfg.multimask_output_in_sam and (first_look or cfg.multimask_output_for_tracking)
                         and cfg.multimask_min_pt_num <= n_points <= cfg.multimask_max_pt_num)
            if points is None:
                coords, labels = np.zeros((1, 1, 2), np.float32), np.full((1, 1), NOT_A_POINT, np.int32)
            else:
                coords, labels = points.coords, points.labels
            low, ptr, score = self._heads(feats, pix, coords, labels, mask_in, multimask)
            out = Output(low, ptr, score)
            high_res = None
        if remember and high_res is None:
            high_res = resize(out.pred_masks, (self.size, self.size))  # the memory sees the mask before hole filling
        if self.fill_hole_area > 0:
            out.pred_masks = fill_holes(out.pred_masks, self.fill_hole_area)
        if remember:
            self._store_memory(state, out, feats, high_res, points is not None)
        return out

    def _mask_as_output(self, feats: Features, mask: np.ndarray) -> tuple[Output, np.ndarray]:
        """A mask prompt taken as the answer; the decoder only supplies the pointer."""
        high_res = mask * 20.0 - 10.0
        low = resize(high_res, (self.size // 4, self.size // 4), antialias=True).astype(np.float32)
        present = np.array([[float(mask.any())]], np.float32)
        if self.cfg.use_obj_ptrs_in_encoder:
            w, b = self.params["mask_downsample.weight"][0, 0], self.params["mask_downsample.bias"][0]
            blocks = mask[0, 0].reshape(self.size // 4, 4, self.size // 4, 4)
            small = (np.einsum("iajb,ab->ij", blocks, w) + b)[None, None].astype(np.float32)
            # The decoder's pointer (its own presence applied), then the mask's presence on top.
            _, ptr, _ = self._heads(feats, feats.vision_feats, np.zeros((1, 1, 2), np.float32), np.full((1, 1), NOT_A_POINT, np.int32),
                                    small, False)
        else:
            ptr = np.zeros((1, self.params["no_mem_embed"].shape[0]), np.float32)
        ptr = self._pointer(ptr, present)
        return Output(low, ptr, 20.0 * present - 10.0), high_res

    def _store_memory(self, state: State, out: Output, feats: Features, high_res: np.ndarray, from_points: bool) -> None:
        features, pos = self.graphs.run("memory_encoder", vision_feats=feats.vision_feats, high_res_masks=high_res.astype(np.float32),
                                        object_score_logits=out.object_score_logits.astype(np.float32),
                                        binarize=np.array([1.0 if (self.binarize and from_points) else 0.0], np.float32))
        if features.ndim == 4:  # (1, C_mem, h, w) maps -> (1, hw, C_mem) tokens
            features = features.reshape(*features.shape[:2], -1).transpose(0, 2, 1)
            pos = pos.reshape(*pos.shape[:2], -1).transpose(0, 2, 1)
        out.maskmem_features = round_to_bfloat16(features)
        out.memory_from_points = from_points
        if state.memory_pos is None:
            state.memory_pos = pos

    # -- prompts ----------------------------------------------------------------------

    def add_new_points_or_box(self, inference_state: State, frame_idx: int, obj_id: int, points: object = None,
                              labels: object = None, clear_old_points: bool = True, normalize_coords: bool = True,
                              box: object = None) -> tuple[int, list[int], np.ndarray]:
        """Clicks and/or a box for an object on a frame; every object's mask there at once."""
        return self.add_points(inference_state, frame_idx, obj_id, points, labels, box, clear_old_points, normalize_coords).as_tuple()

    def add_points(self, state: State, frame_idx: int, obj_id: int, points: object = None, labels: object = None,
                   box: object = None, clear_old_points: bool = True, normalize_coords: bool = True) -> FrameMasks:
        """Clicks and/or a box for an object on a frame; every object's masks there come back."""
        state.check_frame(frame_idx)
        if (points is None) != (labels is None):
            raise BadPrompt("points and labels must be given together: one label (1 positive, 0 negative) per point")
        if points is None and box is None:
            raise BadPrompt("give points with labels, a box, or both")
        coords = np.zeros((1, 0, 2), np.float32) if points is None else np.asarray(points, np.float32).reshape(1, -1, 2)
        labs = np.zeros((1, 0), np.int32) if labels is None else np.asarray(labels, np.int32).reshape(1, -1)
        if labs.shape[1] != coords.shape[1]:
            raise BadPrompt(f"{coords.shape[1]} points but {labs.shape[1]} labels: give one label per point")
        if box is not None:
            coords = np.concatenate([np.asarray(box, np.float32).reshape(1, 2, 2), coords], axis=1)
            labs = np.concatenate([np.array([[2, 3]], np.int32), labs], axis=1)
        if normalize_coords:
            coords = coords / np.array([state.video_width, state.video_height], np.float32)
        coords = coords * self.size
        obj = self._object(state, obj_id)
        old = None if clear_old_points else obj.points.get(frame_idx)
        if old is not None:
            coords, labs = np.concatenate([old.coords, coords], 1), np.concatenate([old.labels, labs], 1)
        prompt = PointPrompt(coords.astype(np.float32), labs)
        obj.set_points(frame_idx, prompt)
        role = obj.role(frame_idx, False)
        prev = obj.latest(frame_idx, role.prompted)
        out = self._answer(state, obj, frame_idx, first_look=role.first_look, reverse=role.reverse, points=prompt,
                           prev=None if prev is None else np.clip(prev.pred_masks, -32.0, 32.0))
        obj.file_answer(frame_idx, out, role)
        return self._consolidate(state, frame_idx, role.prompted)

    def add_new_mask(self, inference_state: State, frame_idx: int, obj_id: int, mask: object) -> tuple[int, list[int], np.ndarray]:
        """An object's mask (H, W) on a frame, taken as is."""
        return self.add_mask(inference_state, frame_idx, obj_id, mask).as_tuple()

    def add_mask(self, state: State, frame_idx: int, obj_id: int, mask: object) -> FrameMasks:
        """An object's mask (H, W) on a frame, taken as is; every object's masks there come back."""
        state.check_frame(frame_idx)
        m = np.asarray(mask).astype(bool).astype(np.float32)
        if m.ndim != 2 or m.size == 0:
            raise BadPrompt(f"mask must be a non-empty 2-D (H, W) array, got shape {m.shape}")
        m = m[None, None]
        if m.shape[-2:] != (self.size, self.size):
            m = (resize(m, (self.size, self.size), antialias=True) >= 0.5).astype(np.float32)
        obj = self._object(state, obj_id)
        obj.set_mask(frame_idx, m)
        role = obj.role(frame_idx, False)
        out = self._answer(state, obj, frame_idx, first_look=role.first_look, reverse=role.reverse, mask=m)
        obj.file_answer(frame_idx, out, role)
        return self._consolidate(state, frame_idx, role.prompted)

    def _consolidate(self, state: State, frame_idx: int, prompted: bool) -> FrameMasks:
        side = self.size // 4
        low = np.full((len(state.objects), 1, side, side), self.decoder["no_obj_score"], np.float32)
        for i, obj in enumerate(state.objects.values()):
            out = obj.latest(frame_idx, prompted)
            if out is not None:
                low[i] = out.pred_masks[0]
        return FrameMasks(frame_idx, state.obj_ids, low, (state.video_height, state.video_width))

    # -- propagation ------------------------------------------------------------------

    def propagate_in_video(self, inference_state: State, start_frame_idx: int | None = None,
                           max_frame_num_to_track: int | None = None, reverse: bool = False) -> Iterator[tuple[int, list[int], np.ndarray]]:
        """Track every object through the video: (frame_idx, obj_ids, masks (N, 1, H, W) logits) per frame."""
        for result in self.propagate(inference_state, start_frame_idx, max_frame_num_to_track, reverse):
            yield result.as_tuple()

    def _preflight(self, state: State) -> None:
        if not state.objects:
            raise NotReady("no object has prompts yet: add points, a box or a mask first")
        self.commit_prompts(state)
        for obj in state.objects.values():
            if not obj.cond_outputs:
                raise NotReady(f"object {obj.obj_id} has no prompts: add points, a box or a mask for it, or remove it")

    def propagate(self, state: State, start_frame_idx: int | None = None, max_frame_num_to_track: int | None = None,
                  reverse: bool = False) -> Iterator[FrameMasks]:
        """Track every object through the video, yielding each frame's masks as computed."""
        self._preflight(state)
        if start_frame_idx is None:
            start_frame_idx = min(t for obj in state.objects.values() for t in obj.cond_outputs)
        state.check_frame(start_frame_idx)
        for frame_idx in frame_order(state.num_frames, start_frame_idx, max_frame_num_to_track, reverse):
            yield self.track_frame(state, frame_idx, reverse=reverse)

    def propagate_directions(self, state: State, direction: str = "forward", start_frame_idx: int | None = None,
                             max_frame_num_to_track: int | None = None) -> Iterator[FrameMasks]:
        """Propagate "forward", "backward" or "both" (forward, then backward from the same start)."""
        if direction not in DIRECTIONS:
            raise BadPrompt(f"direction must be 'forward', 'backward' or 'both', got {direction!r}")
        self._preflight(state)
        if start_frame_idx is None:
            start_frame_idx = default_start((t for obj in state.objects.values() for t in obj.cond_outputs), direction)
        yield from in_directions(lambda start, reverse: self.propagate(state, start, max_frame_num_to_track, reverse),
                                 direction, start_frame_idx, lambda r: r.frame_idx)

    def commit_prompts(self, state: State) -> None:
        """Encode the memories of newly prompted (or corrected) frames: what a propagation
        does before its first frame."""
        for obj in state.objects.values():
            obj.commit_pending(lambda t, out: self._encode_from_logits(state, t, out, True), keep_corrections=self.keep_corrections)

    def track_frame(self, state: State, frame_idx: int, *, reverse: bool = False) -> FrameMasks:
        """One step of propagation (a video's or a stream's): every object's mask on a frame,
        remembered for the next ones, with what left the memory window let go."""
        window = memory_window(self.cfg)
        side = self.size // 4
        low = np.empty((len(state.objects), 1, side, side), np.float32)
        for i, obj in enumerate(state.objects.values()):
            out = obj.kept_output(frame_idx)
            if out is None:
                out = self._answer(state, obj, frame_idx, first_look=False, reverse=reverse, remember=True)
                obj.record_tracked(frame_idx, out)
            obj.mark_tracked(frame_idx, reverse)
            if state.length_known:
                old = frame_idx + window if reverse else frame_idx - window
                obj.release(old, state.spill_path(obj.obj_id, old))
            else:  # a stream: past frames beyond the window are dropped
                obj.forget_before(frame_idx, window, lambda t, obj=obj: state.spill_path(obj.obj_id, t))
            low[i] = out.pred_masks[0]
        return FrameMasks(frame_idx, state.obj_ids, low, (state.video_height, state.video_width))

    def _encode_from_logits(self, state: State, frame_idx: int, out: Output, from_points: bool) -> None:
        """A frame's memory from its stored logits (the latest frame's features are kept)."""
        saved = state.features
        feats = self._features(state, frame_idx)
        self._store_memory(state, out, feats, resize(out.pred_masks, (self.size, self.size)), from_points)
        state.features = saved
