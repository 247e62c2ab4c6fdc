"""masklet's own exceptions: failures a user causes and can act on.

The edges map only these: the HTTP service to their `status`, the command line to exit
code 2 with their message. Anything else is masklet's own failure (a bug, out of
memory): HTTP 500 and exit code 1, with one line.

Each also derives from the built-in type that code written against the official SAM 2
API catches (the official `remove_object(strict=True)` raises RuntimeError, a strict
load RuntimeError, a bad argument ValueError), so such code keeps working.
"""

from __future__ import annotations


class MaskletError(Exception):
    """A failure the user caused and can act on; `status` is its HTTP status."""

    status = 400

    def __str__(self) -> str:
        # KeyError would quote its message; every masklet error reads as a sentence.
        return str(self.args[0]) if self.args else type(self).__name__


class BadPrompt(MaskletError, ValueError):
    """Clicks, a box or a mask that do not fit (shape, labels, coordinates)."""


class BadInput(MaskletError, ValueError):
    """A file or value that cannot be used: an unreadable image or video, malformed RLE or JSON."""


class FrameOutOfRange(MaskletError, IndexError):
    """A frame index the video does not have."""


class UnknownObject(MaskletError, KeyError, RuntimeError):
    """An object id the session does not know: HTTP 404."""

    status = 404


class UnknownSession(MaskletError, KeyError):
    """A session id the service does not hold (deleted, expired or never made): HTTP 404."""

    status = 404


class NotFound(MaskletError, FileNotFoundError):
    """A file or folder that is not there: HTTP 404."""

    status = 404


class NotReady(MaskletError, RuntimeError):
    """An operation that needs something first (prompts before propagation, a frame before a prompt): HTTP 409."""

    status = 409


class SessionBusy(MaskletError, RuntimeError):
    """The session is already doing what was asked (a propagation runs): HTTP 409."""

    status = 409


class CheckpointMismatch(MaskletError, RuntimeError, ValueError):
    """A checkpoint that does not fit the model (keys, shapes), is unreadable, or fails its checksum."""


class LimitError(MaskletError, ValueError):
    """Input beyond what is allowed (pixels, frames, points, bytes): HTTP 413."""

    status = 413


class SessionsFull(LimitError):
    """The service holds its maximum of sessions: HTTP 429."""

    status = 429


class OutsideRoot(MaskletError, PermissionError):
    """A file that resolves outside the folder it must stay under: HTTP 403."""

    status = 403


class OutputRefused(MaskletError, ValueError):
    """An output path that would destroy the input or what masklet did not write."""


class Unsupported(MaskletError, NotImplementedError):
    """Asked of a backend that cannot do it (the automatic mask generator on ONNX graphs): HTTP 501."""

    status = 501


__all__ = [
    "BadInput",
    "BadPrompt",
    "CheckpointMismatch",
    "FrameOutOfRange",
    "LimitError",
    "MaskletError",
    "NotFound",
    "NotReady",
    "OutputRefused",
    "Unsupported",
    "OutsideRoot",
    "SessionBusy",
    "SessionsFull",
    "UnknownObject",
    "UnknownSession",
]
