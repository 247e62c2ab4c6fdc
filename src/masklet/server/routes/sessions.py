"""Sessions: open an uploaded or server-side image or video, list, inspect and free
them, and view their frames."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...errors import BadInput, LimitError, MaskletError
from ...inference.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, open_video
from ..sessions import Session
from ..settings import Service


def router(service: Service) -> APIRouter:
    """The routes of /api/info and /api/sessions[/{id}[/frames/{t}]]."""
    api = APIRouter()
    settings, store = service.settings, service.store

    @api.get("/api/info")
    def info() -> dict:
        """The model, its input size and the service's limits."""
        return {
            "model": service.predictor.model_name,
            "backend": service.predictor.backend,
            "image_size": service.predictor.image_size,
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

    @api.post("/api/sessions", status_code=201)
    async def create_session(file: UploadFile | None = File(None), path: str | None = Form(None)) -> dict:
        """Open an uploaded image or video (field `file`), or a server-side `path` under the data root."""
        if (file is None) == (path is None):
            raise HTTPException(400, "send exactly one of: a file upload (field 'file') or a server-side 'path'")
        session_id = store.reserve()
        folder = service.workdir / session_id
        folder.mkdir()
        try:
            if file is not None:
                source_path = await _save_upload(file, folder, settings.max_upload_mb)
                name, root = Path(file.filename or source_path.name).name, folder
            else:
                source_path = _server_path(path, settings.data_root)
                name, root = source_path.name, settings.data_root
            session = await run_in_threadpool(_open_session, service, session_id, name, source_path, root, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        try:
            store.add(session)
        except BaseException:
            await run_in_threadpool(session.close)
            raise
        return session.info()

    @api.get("/api/sessions")
    def list_sessions() -> dict:
        return {"sessions": store.ids()}

    @api.get("/api/sessions/{session_id}")
    def get_session(session_id: str) -> dict:
        return store.get(session_id).info()

    @api.delete("/api/sessions/{session_id}")
    async def delete_session(session_id: str) -> dict:
        store.get(session_id)
        await run_in_threadpool(store.remove, session_id)
        return {"deleted": session_id}

    @api.get("/api/sessions/{session_id}/frames/{frame_idx}")
    async def get_frame(session_id: str, frame_idx: int, quality: int = 85) -> Response:
        """A frame as JPEG, for viewing."""
        session = store.get(session_id)
        session.source.check_index(frame_idx)
        data = await run_in_threadpool(_jpeg, session, frame_idx, quality)
        return Response(data, media_type="image/jpeg")

    return api


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


def _open_session(service: Service, session_id: str, name: str, path: Path, root: Path | None, folder: Path) -> Session:
    # Sizes come from headers and are checked before a frame is decoded; every file a
    # session reads must resolve under `root` (frames that are links included).
    settings = service.settings
    try:
        source = open_video(path, max_pixels=settings.max_pixels, max_frames=settings.max_frames, root=root)
    except MaskletError as exc:
        if type(exc).status != 400:
            raise  # a limit, a link out of the root: said as it is
        raise BadInput(f"cannot open {name}: {exc}") from None
    except OSError as exc:
        raise BadInput(f"cannot open {name}: {exc}") from None
    kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    try:
        state = service.predictor.start(source)
    except BaseException:
        source.close()
        raise
    return Session(session_id, name, kind, source, state, folder)


def _jpeg(session: Session, frame_idx: int, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(session.source.frame(frame_idx)).save(buf, format="JPEG", quality=max(10, min(quality, 95)))
    return buf.getvalue()
