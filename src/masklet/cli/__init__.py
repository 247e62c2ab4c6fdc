"""The `masklet` command line (also `python -m masklet`).

Exit codes: 0 done; 2 something to fix on the user's side, said in one line: the command
line (a missing file, bad point syntax, a frame out of range), the input (an unreadable
video, a mask of the wrong size, a limit), or a checkpoint that does not fit; 1 masklet
itself failed (a bug, out of memory), also in one line. MASKLET_DEBUG=1 shows tracebacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from ..errors import MaskletError


class Failed(click.ClickException):
    """A one-line error with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class MaskletGroup(click.Group):
    """A click group that turns failures into one-line errors: masklet's own error types
    (the user can act on them) exit 2, anything else exits 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MaskletError as exc:
            if os.environ.get("MASKLET_DEBUG"):
                raise
            raise Failed(str(exc), 2) from None
        except Exception as exc:
            if os.environ.get("MASKLET_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            raise Failed(f"masklet failed ({type(exc).__name__}: {first}); MASKLET_DEBUG=1 shows where", 1) from None


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
                     help="model: masklet-nano, edgetam or an official SAM 2 name such as sam2.1_hiera_t (see `masklet models`)")(f)
    return f


from . import evaluate, generate, models, segment, serve, track, train  # noqa: E402,F401  (register the commands)
