"""Propagation: every object tracked through the video, streamed frame by frame as
server-sent events, and its cancellation."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ...errors import SessionBusy
from ..settings import Service


class PropagateRequest(BaseModel):
    direction: str = Field("forward", pattern="^(forward|backward|both)$")
    start: int | None = Field(None, ge=0, description="frame to start from (default: first prompted; last for backward)")
    max_frames: int | None = Field(None, ge=0, description="track at most this many frames past the start")


def router(service: Service) -> APIRouter:
    """The routes of /api/sessions/{id}/propagate and .../cancel."""
    api = APIRouter()
    store, predictor, public = service.store, service.predictor, service.public

    @api.post("/api/sessions/{session_id}/propagate")
    async def propagate(session_id: str, body: PropagateRequest) -> StreamingResponse:
        """Track every object through the video; each frame's masks stream as a server-sent
        event (`frame`) as soon as computed, then `done`. Cancel by closing the stream or
        POST .../cancel. One propagation at a time per session: a second one gets 409."""
        session = store.get(session_id)
        if not session.state.objects:
            raise HTTPException(409, "no objects yet: add points, a box or a mask first")
        if body.start is not None:
            session.source.check_index(body.start)
        if session.propagating:
            raise SessionBusy("a propagation is already running on this session: wait for its 'done' event "
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

    @api.post("/api/sessions/{session_id}/cancel")
    def cancel(session_id: str) -> dict:
        store.get(session_id).cancel.set()
        return {"cancelled": True}

    return api
