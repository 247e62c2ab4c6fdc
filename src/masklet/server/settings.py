"""What a service runs with: its settings, and the objects every route shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..prompts import MAX_POINTS
from .safety import Redactor
from .sessions import SessionStore

if TYPE_CHECKING:  # either backend's predictor: the service itself needs no torch
    from ..inference.video_predictor import VideoPredictor


@dataclass(frozen=True)
class ServerSettings:
    """What the service runs and the limits a public deployment needs."""

    model: str = "masklet-nano"
    checkpoint: str | None = None  # default: the model's own (packaged for masklet-nano)
    device: str | None = None
    speed: str = "exact"
    graphs: Path | None = None  # exported ONNX graphs: run by masklet.runtime (no torch), model/checkpoint/device unused
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


@dataclass
class Service:
    """The model, the sessions and the settings, shared by every route of one app."""

    settings: ServerSettings
    predictor: VideoPredictor
    store: SessionStore
    workdir: Path  # this server's own folder: one subfolder per session
    public: Redactor  # messages as clients may see them (no server-side folders)
