"""The HTTP service and the web annotator (`masklet serve`); needs the `serve` extra."""

from .app import create_app
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
