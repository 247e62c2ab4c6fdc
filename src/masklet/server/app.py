"""The HTTP service: sessions over uploaded (or server-side) images and videos, prompts
answered at once, propagation streamed as server-sent events, and the web annotator at /.

The model is loaded once and shared by every session; model calls run in worker threads
so the event loop keeps serving, and each session runs one model call at a time. The
routes live in `routes/`, one module per resource; this module assembles them with the
limits, the bearer token and the mapping of errors to statuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..backends import video_predictor
from ..errors import MaskletError

if TYPE_CHECKING:
    from ..inference.video_predictor import VideoPredictor
from .routes import downloads, objects, propagation, sessions
from .safety import BodyLimit, Redactor, body_limits, short_errors
from .sessions import SessionStore, make_workdir
from .settings import ServerSettings, Service

STATIC = Path(__file__).parent / "static"



def create_app(settings: ServerSettings = ServerSettings(), predictor: VideoPredictor | None = None) -> FastAPI:
    """The FastAPI application; pass a predictor to share an already loaded model."""
    if predictor is None:
        predictor = video_predictor(settings.model, settings.checkpoint, settings.device, settings.speed, settings.graphs)
    workdir = make_workdir(settings.workdir)
    service = Service(settings, predictor, SessionStore(settings.max_sessions, settings.idle_timeout_s), workdir,
                      Redactor(workdir, settings.data_root))
    store = service.store

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
    app.state.service = service
    app.add_middleware(BodyLimit, limit_of=body_limits(settings.max_upload_mb, settings.max_json_kb))

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

    for router in (sessions.router, objects.router, propagation.router, downloads.router):
        app.include_router(router(service), dependencies=[Depends(authorize)])
    app.include_router(downloads.links(service), dependencies=[Depends(authorize_download)])

    # Only masklet's own errors are the client's to fix; anything else is the service's
    # failure, said in one line without a traceback or a server path.
    @app.exception_handler(MaskletError)
    async def _user_error(request: Request, exc: MaskletError) -> JSONResponse:
        return JSONResponse({"detail": service.public(str(exc))}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": short_errors(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        first = (str(exc).strip().splitlines() or [""])[0]
        detail = service.public(f"internal error ({type(exc).__name__}: {first})")
        return JSONResponse({"detail": detail}, status_code=500)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
