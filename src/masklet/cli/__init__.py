"""The `masklet` command line (also `python -m masklet`).

Exit codes: 0 done; 1 the work failed (an unreadable file, a checkpoint that does not fit,
a prompt the video rejects), with one line saying why; 2 the command line is wrong (a
missing file, bad point syntax, a frame out of range). Set MASKLET_DEBUG=1 for tracebacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..model import Sam2

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"

# Failures a person can act on: shown as one line, exit code 1.
_USER_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, PermissionError, ValueError, IndexError, KeyError, RuntimeError)


class MaskletGroup(click.Group):
    """A click group that turns expected failures into one-line errors."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except _USER_ERRORS as exc:
            # click's own Exit and Abort are RuntimeErrors too: let click handle them.
            if os.environ.get("MASKLET_DEBUG") or isinstance(exc, (click.exceptions.Exit, click.exceptions.Abort)):
                raise
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise click.ClickException(str(message) or type(exc).__name__) from None


@click.group(cls=MaskletGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="masklet")
def main() -> None:
    """masklet: SAM 2 promptable segmentation of images and videos."""


def model_options(f: Callable) -> Callable:
    """--model, --checkpoint, --device and --speed, shared by the commands that run a model."""
    f = click.option("--speed", type=click.Choice(["exact", "fast"]), default="exact", show_default=True,
                     help="'fast' approximates the memory attention (see the README's speed section)")(f)
    f = click.option("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")(f)
    f = click.option("--checkpoint", default=None,
                     help="checkpoint file, URL, hub id or 'standin' (default: the model's own: packaged for "
                          "masklet-nano, the official file from the cache or its URL otherwise)")(f)
    f = click.option("--model", "model_name", default="masklet-nano", show_default=True,
                     help="model: masklet-nano or an official name such as sam2.1_hiera_t (see `masklet models`)")(f)
    return f


def load_model(model_name: str, checkpoint: str | None, device: str | None, speed: str) -> Sam2:
    """Build a model for a command, its checkpoint resolved (downloaded once if official)."""
    from ..build import build_model
    from ..presets import canonical_name

    name = canonical_name(model_name)
    return build_model(name, checkpoint or name, device=device, speed=speed)


from . import dataset, models, segment, serve, track  # noqa: E402,F401  (register the commands)
