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
import re
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import LimitError, OutsideRoot
from ..inference.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoError, open_video
from ..inference.video_predictor import VideoPredictor
from ..masks_io import label_png
from ..prompts import MAX_POINTS, Prompt, apply_prompt
from ..rle import rle_decode
from .sessions import Session, SessionStore, make_workdir

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
    max_points: int = MAX_POINTS  # clicks per object and frame
    max_json_kb: float = 16384.0  # a prompt's body (a mask as RLE may be large); other bodies: 64 KB
    idle_timeout_s: float = 900.0
    token: str | None = None  # when set, /api needs "Authorization: Bearer <token>"
    workdir: Path | None = None  # each server's folder of uploads is made under it (default: the temporary folder)


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
    workdir = make_workdir(settings.workdir)
    public = _Redactor(workdir, settings.data_root)

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
            await run_in_threadpool(store.clear)
            shutil.rmtree(workdir, ignore_errors=True)

    app = FastAPI(title="masklet", summary="SAM 2 promptable segmentation of images and videos", lifespan=lifespan)
    app.state.store = store
    app.state.predictor = predictor
    app.state.settings = settings
    app.state.workdir = workdir
    app.add_middleware(BodyLimit, limit_of=lambda method, path: _body_limit(settings, method, path))

    def check_token(request: Request, allow_query: bool) -> None:
        if settings.token is None:
            return
        given = request.headers.get("authorization", "")
        if not given and allow_query:
            given = f"Bearer {request.query_params.get('token', '')}"
        if not secrets.compare_digest(given, f"Bearer {settings.token}"):
            raise HTTPException(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'")

    def authorize(request: Request) -> None:
        check_token(request, allow_query=False)

    def authorize_download(request: Request) -> None:
        # A download link cannot send a header: these routes alone take ?token= (which
        # lands in access logs; `masklet serve` masks it there).
        check_token(request, allow_query=True)

    api = [Depends(authorize)]
    download = [Depends(authorize_download)]

    def error(status: int, exc: BaseException) -> JSONResponse:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return JSONResponse({"detail": public(str(message))}, status_code=status)

    @app.exception_handler(LimitError)
    async def _limit(request: Request, exc: LimitError) -> JSONResponse:
        return error(exc.status, exc)

    @app.exception_handler(OutsideRoot)
    async def _outside(request: Request, exc: OutsideRoot) -> JSONResponse:
        return error(exc.status, exc)

    @app.exception_handler(KeyError)
    async def _missing(request: Request, exc: KeyError) -> JSONResponse:
        return error(404, exc)

    @app.exception_handler(ValueError)
    async def _invalid(request: Request, exc: ValueError) -> JSONResponse:
        return error(400, exc)

    @app.exception_handler(IndexError)
    async def _out_of_range(request: Request, exc: IndexError) -> JSONResponse:
        return error(400, exc)

    @app.exception_handler(RuntimeError)
    async def _conflict(request: Request, exc: RuntimeError) -> JSONResponse:
        return error(409, exc)

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _short_errors(exc.errors())}, status_code=422)

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
                "max_points": settings.max_points,
                "max_json_kb": settings.max_json_kb,
                "idle_timeout_s": settings.idle_timeout_s,
            },
            "sessions": len(store),
            "data_root": settings.data_root.name if settings.data_root else None,  # its name: no server paths shown
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
                name, root = Path(file.filename or source_path.name).name, folder
            else:
                source_path = _server_path(path, settings.data_root)
                name, root = source_path.name, settings.data_root
            session = await run_in_threadpool(_open_session, predictor, session_id, name, source_path, root, folder, settings)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        try:
            store.add(session)
        except BaseException:
            await run_in_threadpool(session.close)
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
        if len(body.points) > settings.max_points:
            raise LimitError(f"{len(body.points)} points; the limit is {settings.max_points} points per object and frame")
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
            return Response(_png_bytes(session.label_map(body.frame)), media_type="image/png")
        return JSONResponse({"frame": body.frame, "masks": masks})

    @app.delete("/api/sessions/{session_id}/objects/{obj_id}", dependencies=api)
    async def remove_object(session_id: str, obj_id: int) -> dict:
        """Forget an object: its prompts, memories and masks."""
        session = store.get(session_id)

        def run() -> None:
            with session.lock:
                predictor.remove_object(session.state, obj_id, strict=True, need_output=False)
                session.forget_object(obj_id)

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
        POST .../cancel. One propagation at a time per session: a second one gets 409."""
        session = store.get(session_id)
        if not session.state.objects:
            raise HTTPException(409, "no objects yet: add points, a box or a mask first")
        if body.start is not None:
            session.source.check_index(body.start)
        if session.propagating:
            raise HTTPException(409, "a propagation is already running on this session: wait for its 'done' event "
                                     "or cancel it (POST .../cancel)")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        session.cancel.clear()
        session.propagating = True

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
                error = public(str(exc) or type(exc).__name__)
            done = {"frames": count, "cancelled": session.cancel.is_set(), "error": error}
            loop.call_soon_threadsafe(queue.put_nowait, ("error" if error else "done", done))

        def finished(_: asyncio.Future) -> None:
            session.propagating = False

        # Started here, not in the stream: whatever the client does, the work ends and
        # the session is released.
        worker = loop.run_in_executor(None, work)
        worker.add_done_callback(finished)

        async def events():
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
        masks = session.frame_results(frame_idx)
        return JSONResponse({"frame": frame_idx, "masks": [{"obj_id": i, "rle": r} for i, r in masks.items()]})

    @app.get("/api/sessions/{session_id}/masks.zip", dependencies=download)
    async def masks_zip(session_id: str) -> Response:
        """Every frame with masks as a palette PNG (index = object id), zipped."""
        session = store.get(session_id)

        def build() -> bytes:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                for t in session.frames_with_masks():
                    z.writestr(f"{t:05d}.png", _png_bytes(session.label_map(t)))
            return buf.getvalue()

        data = await run_in_threadpool(build)
        return Response(data, media_type="application/zip", headers={"Content-Disposition": 'attachment; filename="masks.zip"'})

    @app.get("/api/sessions/{session_id}/overlay.mp4", dependencies=download)
    async def overlay_video(session_id: str) -> Response:
        """The masks drawn over the frames that have them, as an H.264 MP4."""
        from ..overlay import VideoWriter, overlay

        session = store.get(session_id)
        if not session.results:
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

    # -- the web annotator ---------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class BodyLimit:
    """Counts a request's body as it arrives and answers 413 once it passes the limit
    for its route, whether or not it said its length: nothing beyond the limit is read,
    spooled or written."""

    def __init__(self, app: ASGIApp, limit_of) -> None:
        self.app = app
        self.limit_of = limit_of  # (method, path) -> (bytes, what the limit is called)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, name = self.limit_of(scope["method"], scope["path"])
        too_large = HTTPException(413, f"request body larger than the limit of {name}")
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _json_error(send, too_large)  # refused before a byte of it is read
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if received > limit:
                    # The rest of the body is never read: the connection cannot carry
                    # another request, and closing it stops the sender.
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except HTTPException as exc:
            if exc is not too_large or started:
                raise
            await _json_error(send, exc)


async def _json_error(send: Send, exc: HTTPException) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    await send({"type": "http.response.start", "status": exc.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _body_limit(settings: ServerSettings, method: str, path: str) -> tuple[int, str]:
    """The most bytes a request's body may hold: an upload, a prompt (its mask as RLE),
    or anything else (a name, a few options)."""
    if method == "POST" and path.rstrip("/") == "/api/sessions":
        return int(settings.max_upload_mb * 1e6) + 65536, f"{settings.max_upload_mb:g} MB"  # + the form's own fields
    if method == "POST" and path.endswith("/prompts"):
        return int(settings.max_json_kb * 1024), f"{settings.max_json_kb:g} KB"
    return 65536, "64 KB"


def _short_errors(errors: list[dict], most: int = 5, width: int = 60) -> list[dict]:
    """Validation errors with at most a short excerpt of the input each, and few of them:
    a bad request must not come back at the size it was sent."""
    short = []
    for e in errors[:most]:
        item = {k: e[k] for k in ("type", "loc", "msg") if k in e}
        if "input" in e:
            text = json.dumps(e["input"], default=str)
            item["input"] = text if len(text) <= width else text[:width] + f"... ({len(text)} characters)"
        short.append(item)
    if len(errors) > most:
        short.append({"msg": f"and {len(errors) - most} more errors"})
    return short


class _Redactor:
    """Strips server-side folders from messages: clients see file names only."""

    def __init__(self, workdir: Path, data_root: Path | None) -> None:
        roots = [workdir.resolve(), workdir] + ([data_root.resolve(), data_root] if data_root else [])
        # A path under a root, up to its last component: "/srv/data/clips/a.mp4" -> "a.mp4".
        self._pattern = re.compile("|".join(re.escape(str(r)) + r"/(?:[^\s'\"/]*/)*" for r in roots))

    def __call__(self, message: str) -> str:
        return self._pattern.sub("", message)


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


def _open_session(
    predictor: VideoPredictor, session_id: str, name: str, path: Path, root: Path | None, folder: Path, settings: ServerSettings
) -> Session:
    # Sizes come from headers and are checked before a frame is decoded; every file a
    # session reads must resolve under `root` (frames that are links included).
    try:
        source = open_video(path, max_pixels=settings.max_pixels, max_frames=settings.max_frames, root=root)
    except (LimitError, OutsideRoot):
        raise
    except (VideoError, OSError) as exc:
        raise ValueError(f"cannot open {name}: {exc}") from None
    kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    try:
        state = predictor.start(source)
    except BaseException:
        source.close()
        raise
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

