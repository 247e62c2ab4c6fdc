"""The HTTP service and the web annotator (`masklet serve`); needs the `serve` extra."""

from .app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
