"""The HTTP service: sessions over uploaded (or server-side) images and videos, prompts
answered at once, propagation streamed as server-sent events, and the web annotator at /.

The model is loaded once and shared by every session; model calls run in worker threads
so the event loop keeps serving, and each session runs one model call at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..inference.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoError, open_video
from ..inference.video_predictor import VideoPredictor
from ..masks_io import label_png
from ..prompts import Prompt, apply_prompt
from ..rle import rle_decode
from .sessions import LimitError, Session, SessionStore

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class ServerSettings:
    """What the service runs and the limits a public deployment needs."""

    model: str = "masklet-nano"
    checkpoint: str | None = None  # default: the model's own (packaged for masklet-nano)
    device: str | None = None
    speed: str = "exact"
    data_root: Path | None = None  # server-side files under this folder may be opened by path
    max_upload_mb: float = 200.0
    max_frames: int = 3000
    max_pixels: int = 3840 * 2160  # width x height of a frame
    max_sessions: int = 8
    idle_timeout_s: float = 900.0
    token: str | None = None  # when set, /api needs "Authorization: Bearer <token>"
    workdir: Path | None = None  # uploads go here (default: a temporary folder)


class PromptRequest(BaseModel):
    frame: int = Field(0, ge=0, description="frame index")
    obj_id: int = Field(1, ge=1, le=255, description="object id (1..255, the palette index of mask PNGs)")
    points: list[tuple[float, float]] = Field(default_factory=list, description="[[x, y], ...] in video pixels")
    labels: list[int] | None = Field(None, description="1 positive, 0 negative, one per point (default: all 1)")
    box: tuple[float, float, float, float] | None = Field(None, description="[x1, y1, x2, y2]")
    mask: dict | None = Field(None, description='the object\'s mask as COCO RLE {"size": [H, W], "counts": ...}')
    clear_old_points: bool = Field(False, description="replace the object's earlier clicks on this frame")
    name: str | None = Field(None, max_length=100, description="a name for the object")


class PropagateRequest(BaseModel):
    direction: str = Field("forward", pattern="^(forward|backward|both)$")
    start: int | None = Field(None, ge=0, description="frame to start from (default: first prompted; last for backward)")
    max_frames: int | None = Field(None, ge=0, description="track at most this many frames past the start")


class RenameRequest(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)


def create_app(settings: ServerSettings = ServerSettings(), predictor: VideoPredictor | None = None) -> FastAPI:
    """The FastAPI application; pass a predictor to share an already loaded model."""
    if predictor is None:
        from ..cli import load_model

        predictor = VideoPredictor(load_model(settings.model, settings.checkpoint, settings.device, settings.speed))
    store = SessionStore(settings.max_sessions, settings.idle_timeout_s)
    workdir = Path(settings.workdir or tempfile.mkdtemp(prefix="masklet-serve-"))
    workdir.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def expire_loop() -> None:
            while True:
                await asyncio.sleep(min(30.0, max(settings.idle_timeout_s / 4, 0.2)))
                await run_in_threadpool(store.expire)

        task = asyncio.create_task(expire_loop())
        try:
            yield
        finally:
            task.cancel()
            store.clear()

    app = FastAPI(title="masklet", summary="SAM 2 promptable segmentation of images and videos", lifespan=lifespan)
    app.state.store = store
    app.state.predictor = predictor
    app.state.settings = settings

    @app.middleware("http")
    async def refuse_large_uploads(request: Request, call_next):
        # Refuse before the body is read: the form parser would otherwise spool all of it.
        size = request.headers.get("content-length")
        if request.method == "POST" and size and size.isdigit() and int(size) > settings.max_upload_mb * 1e6 + 65536:
            return JSONResponse({"detail": f"upload larger than the limit of {settings.max_upload_mb:g} MB"}, status_code=413)
        return await call_next(request)

    def authorize(request: Request) -> None:
        if settings.token is None:
            return
        # Download links cannot send headers: they may carry ?token= instead.
        given = request.headers.get("authorization", "") or f"Bearer {request.query_params.get('token', '')}"
        if not secrets.compare_digest(given, f"Bearer {settings.token}"):
            raise HTTPException(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'")

    api = [Depends(authorize)]

    @app.exception_handler(LimitError)
    async def _limit(request: Request, exc: LimitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(KeyError)
    async def _missing(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"detail": exc.args[0] if exc.args else "not found"}, status_code=404)

    @app.exception_handler(ValueError)
    async def _invalid(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(IndexError)
    async def _out_of_range(request: Request, exc: IndexError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RuntimeError)
    async def _conflict(request: Request, exc: RuntimeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    # -- the service ------------------------------------------------------------------

    @app.get("/api/info", dependencies=api)
    def info() -> dict:
        """The model, its input size and the service's limits."""
        return {
            "model": predictor.model.cfg.name,
            "image_size": predictor.image_size,
            "limits": {
                "max_upload_mb": settings.max_upload_mb,
                "max_frames": settings.max_frames,
                "max_pixels": settings.max_pixels,
                "max_sessions": settings.max_sessions,
                "idle_timeout_s": settings.idle_timeout_s,
            },
            "sessions": len(store),
            "data_root": str(settings.data_root) if settings.data_root else None,
        }

    @app.post("/api/sessions", status_code=201, dependencies=api)
    async def create_session(request: Request, file: UploadFile | None = File(None), path: str | None = Form(None)) -> dict:
        """Open an uploaded image or video (field `file`), or a server-side `path` under the data root."""
        if (file is None) == (path is None):
            raise HTTPException(400, "send exactly one of: a file upload (field 'file') or a server-side 'path'")
        session_id = store.reserve()
        folder = workdir / session_id
        folder.mkdir()
        try:
            if file is not None:
                source_path = await _save_upload(file, folder, settings.max_upload_mb)
                name = file.filename or source_path.name
            else:
                source_path = _server_path(path, settings.data_root)
                name = source_path.name
            session = await run_in_threadpool(_open_session, predictor, session_id, name, source_path, folder, settings)
            store.add(session)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return session.info()

    @app.get("/api/sessions", dependencies=api)
    def list_sessions() -> dict:
        return {"sessions": store.ids()}

    @app.get("/api/sessions/{session_id}", dependencies=api)
    def get_session(session_id: str) -> dict:
        return store.get(session_id).info()

    @app.delete("/api/sessions/{session_id}", dependencies=api)
    async def delete_session(session_id: str) -> dict:
        store.get(session_id)
        await run_in_threadpool(store.remove, session_id)
        return {"deleted": session_id}

    @app.get("/api/sessions/{session_id}/frames/{frame_idx}", dependencies=api)
    async def get_frame(session_id: str, frame_idx: int, quality: int = 85) -> Response:
        """A frame as JPEG, for viewing."""
        session = store.get(session_id)
        session.source.check_index(frame_idx)
        data = await run_in_threadpool(_jpeg, session, frame_idx, quality)
        return Response(data, media_type="image/jpeg")

    @app.post("/api/sessions/{session_id}/prompts", dependencies=api)
    async def add_prompt(session_id: str, body: PromptRequest, format: str = "rle") -> Response:
        """Add clicks, a box or a mask for an object on a frame; every object's mask on that
        frame comes back at once (JSON with COCO RLE, or `?format=png`: a palette PNG)."""
        if format not in ("rle", "png"):
            raise HTTPException(400, "format must be 'rle' or 'png'")
        session = store.get(session_id)
        prompt = Prompt(frame=body.frame, obj_id=body.obj_id, points=list(body.points), box=body.box)
        prompt.labels = list(body.labels) if body.labels is not None else [1] * len(body.points)
        if len(prompt.labels) != len(prompt.points) or any(v not in (0, 1) for v in prompt.labels):
            raise HTTPException(400, "labels must hold one 1 (positive) or 0 (negative) per point")
        if body.mask is not None:
            prompt.mask = rle_decode(body.mask)
            if prompt.mask.shape != (session.source.height, session.source.width):
                raise HTTPException(400, f"mask is {prompt.mask.shape[1]}x{prompt.mask.shape[0]}, the video {session.source.width}x{session.source.height}")
        if body.name:
            session.object_names[body.obj_id] = body.name

        def run() -> list[dict]:
            with session.lock:
                masks = apply_prompt(predictor, session.state, prompt, clear_old_points=body.clear_old_points)
                # Without the non-overlap rule a prompt changes only its own object's mask.
                return session.record(masks, changed=None if predictor.non_overlap_masks else prompt.obj_id)

        masks = await run_in_threadpool(run)
        if format == "png":
            return Response(_png_bytes(session.label_map(body.frame)), media_type="image/png")
        return JSONResponse({"frame": body.frame, "masks": masks})

    @app.delete("/api/sessions/{session_id}/objects/{obj_id}", dependencies=api)
    async def remove_object(session_id: str, obj_id: int) -> dict:
        """Forget an object: its prompts, memories and masks."""
        session = store.get(session_id)

        def run() -> None:
            with session.lock:
                predictor.remove_object(session.state, obj_id, strict=True, need_output=False)
                for frame in (*session.results.values(), *session.areas.values()):
                    frame.pop(obj_id, None)
                session.object_names.pop(obj_id, None)

        await run_in_threadpool(run)
        return session.info()

    @app.put("/api/sessions/{session_id}/objects/{obj_id}", dependencies=api)
    def rename_object(session_id: str, obj_id: int, body: RenameRequest) -> dict:
        session = store.get(session_id)
        session.state.get_object(obj_id)
        session.object_names[obj_id] = body.name
        return session.info()

    @app.post("/api/sessions/{session_id}/propagate", dependencies=api)
    async def propagate(session_id: str, body: PropagateRequest, request: Request) -> StreamingResponse:
        """Track every object through the video; each frame's masks stream as a server-sent
        event (`frame`) as soon as computed, then `done`. Cancel by closing the stream or
        POST .../cancel."""
        session = store.get(session_id)
        if not session.state.objects:
            raise HTTPException(409, "no objects yet: add points, a box or a mask first")
        if body.start is not None:
            session.source.check_index(body.start)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        session.cancel.clear()

        def work() -> None:
            count, error = 0, None
            try:
                with session.lock:
                    frames = predictor.propagate_directions(session.state, body.direction, body.start, body.max_frames)
                    for masks in frames:
                        if session.cancel.is_set():
                            break
                        payload = {"frame": masks.frame_idx, "masks": session.record(masks)}
                        count += 1
                        session.touch()
                        loop.call_soon_threadsafe(queue.put_nowait, ("frame", payload))
            except Exception as exc:  # reported to this client; the service goes on
                error = str(exc)
            done = {"frames": count, "cancelled": session.cancel.is_set(), "error": error}
            loop.call_soon_threadsafe(queue.put_nowait, ("error" if error else "done", done))

        async def events():
            worker = loop.run_in_executor(None, work)
            try:
                while True:
                    event, payload = await queue.get()
                    yield f"event: {event}\ndata: {json.dumps(payload)}\n\n"
                    if event in ("done", "error"):
                        break
            finally:
                session.cancel.set()  # a closed stream stops the worker at the next frame
                await worker

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/api/sessions/{session_id}/cancel", dependencies=api)
    def cancel(session_id: str) -> dict:
        store.get(session_id).cancel.set()
        return {"cancelled": True}

    @app.get("/api/sessions/{session_id}/masks/{frame_idx}", dependencies=api)
    def frame_masks(session_id: str, frame_idx: int, format: str = "rle") -> Response:
        """A frame's latest masks: JSON with COCO RLE per object, or `?format=png`."""
        session = store.get(session_id)
        session.source.check_index(frame_idx)
        if format == "png":
            return Response(_png_bytes(session.label_map(frame_idx)), media_type="image/png")
        masks = session.results.get(frame_idx, {})
        return JSONResponse({"frame": frame_idx, "masks": [{"obj_id": i, "rle": r} for i, r in masks.items()]})

    @app.get("/api/sessions/{session_id}/masks.zip", dependencies=api)
    async def masks_zip(session_id: str) -> Response:
        """Every frame with masks as a palette PNG (index = object id), zipped."""
        session = store.get(session_id)

        def build() -> bytes:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                for t in sorted(session.results):
                    z.writestr(f"{t:05d}.png", _png_bytes(session.label_map(t)))
            return buf.getvalue()

        data = await run_in_threadpool(build)
        return Response(data, media_type="application/zip", headers={"Content-Disposition": 'attachment; filename="masks.zip"'})

    @app.get("/api/sessions/{session_id}/overlay.mp4", dependencies=api)
    async def overlay_video(session_id: str) -> FileResponse:
        """The masks drawn over the frames that have them, as an H.264 MP4."""
        from ..overlay import VideoWriter, overlay

        session = store.get(session_id)
        if not session.results:
            raise HTTPException(409, "no masks yet: add prompts (and propagate) first")
        path = session.folder / "overlay.mp4"

        def render() -> None:
            with VideoWriter(path, fps=session.source.fps or 30.0) as writer:
                for t in sorted(session.results):
                    writer.write(overlay(session.source.frame(t), session.label_map(t)))

        await run_in_threadpool(render)
        return FileResponse(path, media_type="video/mp4", filename="overlay.mp4")

    # -- the web annotator ---------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _save_upload(file: UploadFile, folder: Path, max_mb: float) -> Path:
    """Copy an upload to disk, refusing it beyond the size limit or of an unknown type."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        raise HTTPException(415, f"unsupported file type {suffix or '(none)'!r}: upload an image ({', '.join(IMAGE_SUFFIXES)}) "
                                 f"or a video ({', '.join(VIDEO_SUFFIXES)})")
    dest = folder / f"upload{suffix}"
    limit, size = int(max_mb * 1e6), 0
    with open(dest, "wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise LimitError(f"upload larger than the limit of {max_mb:g} MB")
            out.write(chunk)
    return dest


def _server_path(path: str, root: Path | None) -> Path:
    if root is None:
        raise HTTPException(403, "opening server-side paths is off: start the service with --data-root")
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise HTTPException(403, f"path {path!r} lies outside the data root")
    if not resolved.exists():
        raise HTTPException(404, f"no file or folder {path!r} under the data root")
    return resolved


def _open_session(predictor: VideoPredictor, session_id: str, name: str, path: Path, folder: Path, settings: ServerSettings) -> Session:
    try:
        source = open_video(path)
    except (VideoError, OSError) as exc:
        raise ValueError(f"cannot open {name}: {exc}") from None
    if source.num_frames > settings.max_frames:
        raise LimitError(f"{name} has {source.num_frames} frames; the limit is {settings.max_frames}")
    if source.width * source.height > settings.max_pixels:
        raise LimitError(f"{name} is {source.width}x{source.height}; the limit is {settings.max_pixels} pixels a frame")
    kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    state = predictor.start(source)
    return Session(session_id, name, kind, source, state, folder)


def _jpeg(session: Session, frame_idx: int, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(session.source.frame(frame_idx)).save(buf, format="JPEG", quality=max(10, min(quality, 95)))
    return buf.getvalue()


def _png_bytes(labels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    label_png(labels).save(buf, format="PNG")
    return buf.getvalue()

