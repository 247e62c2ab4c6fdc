"""Objects of a session: prompts (clicks, a box or a mask on a frame), renaming, removal."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...errors import LimitError, Unsupported
from ...prompts import Prompt, apply_prompt
from ...rle import rle_decode
from ..settings import Service
from .downloads import png_bytes


class PromptRequest(BaseModel):
    frame: int = Field(0, ge=0, description="frame index")
    obj_id: int = Field(1, ge=1, le=255, description="object id (1..255, the palette index of mask PNGs)")
    points: list[tuple[float, float]] = Field(default_factory=list, description="[[x, y], ...] in video pixels")
    labels: list[int] | None = Field(None, description="1 positive, 0 negative, one per point (default: all 1)")
    box: tuple[float, float, float, float] | None = Field(None, description="[x1, y1, x2, y2]")
    mask: dict | None = Field(None, description='the object\'s mask as COCO RLE {"size": [H, W], "counts": ...}')
    clear_old_points: bool = Field(False, description="replace the object's earlier clicks on this frame")
    name: str | None = Field(None, max_length=100, description="a name for the object")


class RenameRequest(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)


class EverythingRequest(BaseModel):
    frame: int = Field(0, ge=0, description="frame index")
    points_per_side: int = Field(16, ge=1, le=64, description="a grid of N x N clicks")
    pred_iou_thresh: float | None = Field(None, ge=0, le=1, description="default: the model's (0.8; 0.3 for masklet-nano)")
    stability_score_thresh: float | None = Field(None, ge=0, le=1, description="default: the model's (0.95; 0.5 for masklet-nano)")
    min_area: int = Field(0, ge=0, description="leave out masks smaller than this (pixels)")
    max_objects: int = Field(20, ge=1, le=255, description="objects in the session at most, old ones included")


def router(service: Service) -> APIRouter:
    """The routes of /api/sessions/{id}/prompts and /api/sessions/{id}/objects/{obj}."""
    api = APIRouter()
    settings, store, predictor = service.settings, service.store, service.predictor

    @api.post("/api/sessions/{session_id}/prompts")
    async def add_prompt(session_id: str, body: PromptRequest, format: str = "rle") -> Response:
        """Add clicks, a box or a mask for an object on a frame; every object's mask on that
        frame comes back at once (JSON with COCO RLE, or `?format=png`: a palette PNG)."""
        if format not in ("rle", "png"):
            raise HTTPException(400, "format must be 'rle' or 'png'")
        session = store.get(session_id)
        if len(body.points) > settings.max_points:
            raise LimitError(f"{len(body.points)} points; the limit is {settings.max_points} points per object and frame")
        prompt = Prompt(frame=body.frame, obj_id=body.obj_id, points=list(body.points), box=body.box)
        prompt.labels = list(body.labels) if body.labels is not None else [1] * len(body.points)
        if len(prompt.labels) != len(prompt.points) or any(v not in (0, 1) for v in prompt.labels):
            raise HTTPException(400, "labels must hold one 1 (positive) or 0 (negative) per point")
        if body.mask is not None:
            # The size is compared with the frame's before the RLE is decoded.
            prompt.mask = rle_decode(body.mask, shape=(session.source.height, session.source.width))
        if body.name:
            session.object_names[body.obj_id] = body.name

        def run() -> list[dict]:
            with session.lock:
                masks = apply_prompt(predictor, session.state, prompt, clear_old_points=body.clear_old_points,
                                     max_points=settings.max_points)
                # Without the non-overlap rule a prompt changes only its own object's mask.
                return session.record(masks, changed=None if predictor.non_overlap_masks else prompt.obj_id)

        masks = await run_in_threadpool(run)
        if format == "png":
            return Response(png_bytes(session.label_map(body.frame)), media_type="image/png")
        return JSONResponse({"frame": body.frame, "masks": masks})

    @api.delete("/api/sessions/{session_id}/objects/{obj_id}")
    async def remove_object(session_id: str, obj_id: int) -> dict:
        """Forget an object: its prompts, memories and masks."""
        session = store.get(session_id)

        def run() -> None:
            with session.lock:
                predictor.remove_object(session.state, obj_id, strict=True, need_output=False)
                session.forget_object(obj_id)

        await run_in_threadpool(run)
        return session.info()

    @api.post("/api/sessions/{session_id}/everything")
    async def segment_everything(session_id: str, body: EverythingRequest) -> JSONResponse:
        """Segment everything on a frame: its automatic masks that no object covers yet
        become new objects; every object's mask on that frame comes back, with the new ids."""
        session = store.get(session_id)
        if predictor.backend != "torch":
            raise Unsupported("segment everything runs the automatic mask generator, which needs the torch backend; "
                              "this service runs exported ONNX graphs (masklet serve --graphs)")
        from ...inference.everything import EverythingSettings, choose_new
        from ...inference.mask_generator import GeneratorSettings, MaskGenerator, model_thresholds

        session.source.check_index(body.frame)
        iou_default, stability_default = model_thresholds(predictor.model)
        generator = MaskGenerator(predictor.model, GeneratorSettings(
            points_per_side=body.points_per_side,
            pred_iou_thresh=iou_default if body.pred_iou_thresh is None else body.pred_iou_thresh,
            stability_score_thresh=stability_default if body.stability_score_thresh is None else body.stability_score_thresh,
        ))
        chosen = EverythingSettings(min_area=body.min_area, max_objects=body.max_objects)

        def run() -> tuple[list[int], list[dict]]:
            with session.lock:
                frame = session.source.frame(body.frame)
                taken = [rle_decode(r) for r in session.frame_results(body.frame).values()]
                room = body.max_objects - len(session.state.objects)
                new = choose_new(generator.generate(frame), taken, chosen, room) if room > 0 else []
                next_id = max(session.state.objects, default=0) + 1
                ids = list(range(next_id, next_id + len(new)))
                masks = None
                for obj_id, mask in zip(ids, new):
                    masks = predictor.add_mask(session.state, body.frame, obj_id, mask)
                return ids, (session.record(masks) if masks is not None else [])

        added, masks = await run_in_threadpool(run)
        return JSONResponse({"frame": body.frame, "added": added, "masks": masks})

    @api.put("/api/sessions/{session_id}/objects/{obj_id}")
    def rename_object(session_id: str, obj_id: int, body: RenameRequest) -> dict:
        session = store.get(session_id)
        session.state.get_object(obj_id)
        session.object_names[obj_id] = body.name
        return session.info()

    return api
