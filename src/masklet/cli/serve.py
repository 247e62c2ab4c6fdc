"""`masklet serve`: the HTTP service and the web annotator."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import click

from . import backend_options, main, model_options, onnx_graphs


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on (0.0.0.0: every one)")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@model_options
@backend_options
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="let clients open files under this folder by path (default: uploads only)")
@click.option("--max-upload-mb", type=click.FloatRange(min=0), default=200.0, show_default=True)
@click.option("--max-frames", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--max-pixels", type=click.IntRange(min=1), default=3840 * 2160, show_default=True, help="per frame")
@click.option("--max-sessions", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-points", type=click.IntRange(min=1), default=1000, show_default=True, help="clicks per object and frame")
@click.option("--max-json-kb", type=click.FloatRange(min=1), default=16384.0, show_default=True,
              help="a prompt's body (its mask as RLE); other bodies are held to 64 KB")
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="seconds before an unused session is freed")
@click.option("--token", envvar="MASKLET_TOKEN", default=None, help="require 'Authorization: Bearer TOKEN' (or $MASKLET_TOKEN)")
@click.option("-q", "--quiet", is_flag=True, help="no access log")
def serve(host: str, port: int, model_name: str, checkpoint: str | None, device: str | None, speed: str, backend: str | None,
          graphs: Path | None, data_root: Path | None,
          max_upload_mb: float, max_frames: int, max_pixels: int, max_sessions: int, max_points: int, max_json_kb: float,
          idle_timeout: float, token: str | None, quiet: bool) -> None:
    """Serve the HTTP API (docs at /docs) and the web annotator (at /)."""
    graphs = onnx_graphs(backend, graphs)
    try:
        import uvicorn

        from ..server import ServerSettings, create_app
    except ImportError as exc:
        raise click.ClickException(f"the service needs the serve extra: pip install 'masklet[serve]' ({exc})") from None
    settings = ServerSettings(
        model=model_name, checkpoint=checkpoint, device=device, speed=speed, graphs=graphs, data_root=data_root, max_upload_mb=max_upload_mb,
        max_frames=max_frames, max_pixels=max_pixels, max_sessions=max_sessions, max_points=max_points,
        max_json_kb=max_json_kb, idle_timeout_s=idle_timeout, token=token,
    )
    from PIL import Image

    # PIL's own guard refuses to decode more than this (headers are checked before, too).
    Image.MAX_IMAGE_PIXELS = max_pixels
    app = create_app(settings)
    click.echo(f"masklet serving {app.state.service.predictor.model_name}{' (ONNX graphs)' if graphs else ''} on http://{host}:{port}/ (API docs: /docs)")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning" if quiet else "info")  # sets up logging
    logging.getLogger("uvicorn.access").addFilter(HideTokens())
    uvicorn.Server(config).run()


class HideTokens(logging.Filter):
    """Masks ?token=... in access-log lines (download links carry it)."""

    _token = re.compile(r"([?&]token=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._token.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True
