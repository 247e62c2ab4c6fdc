"""Annotation sessions held by the service: one video (or image) each, with its masks."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SessionsFull, UnknownSession
from ..inference.video_io import FrameSource
from ..masks_io import label_map
from ..rle import rle_decode, rle_encode

if TYPE_CHECKING:  # or masklet.runtime's State and FrameMasks: the same methods, in numpy
    from ..inference.session import VideoSession
    from ..inference.video_predictor import FrameMasks

__all__ = ["Session", "SessionStore", "make_workdir"]


@dataclass
class Session:
    """One user's video, its tracking state, and the latest mask of each object per frame."""

    session_id: str
    name: str
    kind: str  # "image" or "video"
    source: FrameSource
    state: VideoSession
    folder: Path  # uploads and rendered files; removed with the session
    lock: threading.Lock = field(default_factory=threading.Lock)  # one model call at a time per session
    cancel: threading.Event = field(default_factory=threading.Event)
    propagating: bool = False  # set and cleared on the event loop's thread only
    # results and areas are written by a model call while downloads read them.
    results_lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    object_names: dict[int, str] = field(default_factory=dict)
    results: dict[int, dict[int, dict]] = field(default_factory=dict)  # frame -> obj_id -> COCO RLE
    areas: dict[int, dict[int, int]] = field(default_factory=dict)  # frame -> obj_id -> mask pixels

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def record(self, masks: FrameMasks, changed: int | None = None) -> list[dict]:
        """Keep a frame's masks; return them as [{"obj_id", "rle", "area"}] for the client.

        `changed`: the only object whose mask can differ from the one kept for this frame
        (a click changes only its own object), so the others' encodings are reused.
        """
        with self.results_lock:
            kept = self.results.get(masks.frame_idx, {})
            kept_areas = self.areas.get(masks.frame_idx, {})
        frame, areas = {}, {}
        for i, obj_id in enumerate(masks.obj_ids):
            if changed is not None and obj_id != changed and obj_id in kept and obj_id in kept_areas:
                frame[obj_id], areas[obj_id] = kept[obj_id], kept_areas[obj_id]
                continue
            m = masks.binary_mask(i)
            frame[obj_id], areas[obj_id] = rle_encode(m), int(np.count_nonzero(m))
        with self.results_lock:
            self.results[masks.frame_idx], self.areas[masks.frame_idx] = frame, areas
        return [{"obj_id": i, "rle": frame[i], "area": areas[i]} for i in masks.obj_ids]

    def info(self) -> dict:
        return {
            "session_id": self.session_id,
            "name": self.name,
            "kind": self.kind,
            "num_frames": self.source.num_frames,
            "width": self.source.width,
            "height": self.source.height,
            "fps": self.source.fps,
            "objects": [{"obj_id": i, "name": self.object_names.get(i, f"object {i}")} for i in self.state.obj_ids],
            "frames_with_masks": len(self.results),
        }

    def frames_with_masks(self) -> list[int]:
        with self.results_lock:
            return sorted(self.results)

    def frame_results(self, frame_idx: int) -> dict[int, dict]:
        """The frame's latest masks: obj_id -> COCO RLE (a copy)."""
        with self.results_lock:
            return dict(self.results.get(frame_idx, {}))

    def forget_object(self, obj_id: int) -> None:
        with self.results_lock:
            for frame in (*self.results.values(), *self.areas.values()):
                frame.pop(obj_id, None)
        self.object_names.pop(obj_id, None)

    def label_map(self, frame_idx: int) -> np.ndarray:
        """The frame's masks as one (H, W) map of object ids (0 where none)."""
        masks = self.frame_results(frame_idx)
        if not masks:
            return np.zeros((self.source.height, self.source.width), dtype=np.uint8)
        return label_map(list(masks), np.stack([rle_decode(r) for r in masks.values()]))

    def close(self) -> None:
        """Stop its work, free its state, close its video and remove its files."""
        self.cancel.set()
        with self.lock:  # let a running model call finish first
            self.state.close()
            self.source.close()  # the service opened it and handed it to the session
        shutil.rmtree(self.folder, ignore_errors=True)


class SessionStore:
    """Live sessions by id, with a cap on how many and expiry of idle ones."""

    def __init__(self, max_sessions: int, idle_timeout_s: float) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self._sessions: dict[str, Session] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def ids(self) -> list[str]:
        return list(self._sessions)

    def reserve(self) -> str:
        """A fresh id, or SessionsFull when the service holds its maximum of sessions."""
        self.expire()
        with self._guard:
            if len(self._sessions) >= self.max_sessions:
                raise SessionsFull(
                    f"the service holds its maximum of {self.max_sessions} sessions: delete one (DELETE /api/sessions/ID) "
                    f"or wait for an idle one to expire ({self.idle_timeout_s:g} s)"
                )
            return uuid.uuid4().hex[:16]

    def add(self, session: Session) -> None:
        with self._guard:
            if len(self._sessions) >= self.max_sessions:
                raise SessionsFull(f"the service holds its maximum of {self.max_sessions} sessions")
            self._sessions[session.session_id] = session

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no session {session_id!r}: it was deleted, expired, or never existed")
        session.touch()
        return session

    def remove(self, session_id: str) -> bool:
        with self._guard:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        session.close()
        return True

    def expire(self) -> list[str]:
        """Remove sessions idle for longer than the timeout (not one busy in a model call)."""
        now = time.monotonic()
        stale = [s.session_id for s in list(self._sessions.values()) if now - s.last_used > self.idle_timeout_s and not s.lock.locked()]
        for session_id in stale:
            self.remove(session_id)
        return stale

    def clear(self) -> None:
        for session_id in self.ids():
            self.remove(session_id)


# -- the service's folder on disk ------------------------------------------------------

WORKDIR_MARK = ".masklet-serve"  # in each server's folder: who made it, so stale ones can go


def make_workdir(parent: Path | None = None) -> Path:
    """A fresh folder for this server's sessions under `parent` (default: one per user in
    the temporary folder), after removing the folders of servers that are gone (killed
    with -9, say). Only folders holding masklet's mark are ever removed."""
    if parent is None:
        parent = Path(tempfile.gettempdir()) / f"masklet-serve-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_workdirs(parent)
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=f"{os.getpid()}-"))
    (folder / WORKDIR_MARK).write_text(json.dumps({"pid": os.getpid(), "started": _process_start(os.getpid())}))
    return folder


def remove_stale_workdirs(parent: Path) -> list[Path]:
    """Remove the marked folders under `parent` whose server process no longer runs."""
    removed = []
    for child in parent.iterdir():
        try:
            mark = json.loads((child / WORKDIR_MARK).read_text())
            pid, started = int(mark["pid"]), mark.get("started")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a folder a masklet server made: never touched
        if not _running(pid, started):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def _process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot, Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _running(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it runs
    return started is None or _process_start(pid) in (None, started)
