"""masklet's own exceptions: failures a user causes and can act on.

The edges map them: the HTTP service to a 4xx status (`status`), the command line to a
one-line message. Each derives from the built-in type code written against the official
API would catch, so `except ValueError` keeps working.
"""

from __future__ import annotations


class LimitError(ValueError):
    """Input beyond what is allowed (pixels, frames, points, bytes): HTTP 413."""

    status = 413


class SessionsFull(LimitError):
    """The service holds its maximum of sessions: HTTP 429."""

    status = 429


class OutsideRoot(PermissionError):
    """A file that resolves outside the folder it must stay under: HTTP 403."""

    status = 403
