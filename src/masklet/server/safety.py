"""What keeps the service safe under hostile input: request bodies counted as they
arrive, validation errors echoed only in part, and server-side paths kept out of messages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Counts a request's body as it arrives and answers 413 once it passes the limit
    for its route, whether or not it said its length: nothing beyond the limit is read,
    spooled or written."""

    def __init__(self, app: ASGIApp, limit_of: Callable[[str, str], tuple[int, str]]) -> None:
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


def body_limits(max_upload_mb: float, max_json_kb: float) -> Callable[[str, str], tuple[int, str]]:
    """The most bytes a request's body may hold, by route: an upload, a prompt (its mask
    as RLE), or anything else (a name, a few options)."""

    def limit_of(method: str, path: str) -> tuple[int, str]:
        if method == "POST" and path.rstrip("/") == "/api/sessions":
            return int(max_upload_mb * 1e6) + 65536, f"{max_upload_mb:g} MB"  # + the form's own fields
        if method == "POST" and path.endswith("/prompts"):
            return int(max_json_kb * 1024), f"{max_json_kb:g} KB"
        return 65536, "64 KB"

    return limit_of


def short_errors(errors: list[dict], most: int = 5, width: int = 60) -> list[dict]:
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


class Redactor:
    """Strips server-side folders from messages: clients see file names only."""

    def __init__(self, *roots: Path | None) -> None:
        folders = {str(r) for root in roots if root is not None for r in (root, root.resolve())}
        # A path under a root, up to its last component: "/srv/data/clips/a.mp4" -> "a.mp4".
        self._pattern = re.compile("|".join(re.escape(f) + r"/(?:[^\s'\"/]*/)*" for f in sorted(folders, key=len, reverse=True)))

    def __call__(self, message: str) -> str:
        return self._pattern.sub("", message) if self._pattern.pattern else message
