"""The masks as files: one frame's (JSON or PNG), every frame's PNGs zipped, an overlay MP4.

The zip and the MP4 are download links: they alone take the token as `?token=`.
"""

from __future__ import annotations

import io
import secrets
import zipfile

import numpy as np
from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ...masks_io import label_png
from ..settings import Service


def png_bytes(labels: np.ndarray) -> bytes:
    """A label map as palette-PNG bytes."""
    buf = io.BytesIO()
    label_png(labels).save(buf, format="PNG")
    return buf.getvalue()


def router(service: Service) -> APIRouter:
    """GET /api/sessions/{id}/masks/{t} (needs the header)."""
    api = APIRouter()
    store = service.store

    @api.get("/api/sessions/{session_id}/masks/{frame_idx}")
    def frame_masks(session_id: str, frame_idx: int, format: str = "rle") -> Response:
        """A frame's latest masks: JSON with COCO RLE per object, or `?format=png`."""
        session = store.get(session_id)
        session.source.check_index(frame_idx)
        if format == "png":
            return Response(png_bytes(session.label_map(frame_idx)), media_type="image/png")
        masks = session.frame_results(frame_idx)
        return JSONResponse({"frame": frame_idx, "masks": [{"obj_id": i, "rle": r} for i, r in masks.items()]})

    return api


def links(service: Service) -> APIRouter:
    """GET /api/sessions/{id}/masks.zip and .../overlay.mp4 (download links)."""
    api = APIRouter()
    store = service.store

    @api.get("/api/sessions/{session_id}/masks.zip")
    async def masks_zip(session_id: str) -> Response:
        """Every frame with masks as a palette PNG (index = object id), zipped."""
        session = store.get(session_id)

        def build() -> bytes:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                for t in session.frames_with_masks():
                    z.writestr(f"{t:05d}.png", png_bytes(session.label_map(t)))
            return buf.getvalue()

        data = await run_in_threadpool(build)
        return Response(data, media_type="application/zip", headers={"Content-Disposition": 'attachment; filename="masks.zip"'})

    @api.get("/api/sessions/{session_id}/overlay.mp4")
    async def overlay_video(session_id: str) -> Response:
        """The masks drawn over the frames that have them, as an H.264 MP4."""
        from ...overlay import VideoWriter, overlay

        session = store.get(session_id)
        if not session.frames_with_masks():
            raise HTTPException(409, "no masks yet: add prompts (and propagate) first")

        def render() -> bytes:
            # Rendered to a file of its own: two downloads at once never share one.
            path = session.folder / f"overlay-{secrets.token_hex(4)}.mp4"
            try:
                with VideoWriter(path, fps=session.source.fps or 30.0) as writer:
                    for t in session.frames_with_masks():
                        writer.write(overlay(session.source.frame(t), session.label_map(t)))
                return path.read_bytes()
            finally:
                path.unlink(missing_ok=True)

        data = await run_in_threadpool(render)
        return Response(data, media_type="video/mp4", headers={"Content-Disposition": 'attachment; filename="overlay.mp4"'})

    return api
