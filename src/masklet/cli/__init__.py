"""The `masklet` command line (also `python -m masklet`).

Exit codes: 0 done; 2 something to fix on the user's side, said in one line: the command
line (a missing file, bad point syntax, a frame out of range), the input (an unreadable
video, a mask of the wrong size, a limit), or a checkpoint that does not fit; 1 masklet
itself failed (a bug, out of memory), also in one line. MASKLET_DEBUG=1 shows tracebacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

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


def backend_options(f: Callable) -> Callable:
    """--backend and --graphs: run on the torch model (default) or on exported ONNX graphs."""
    f = click.option("--graphs", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                     help="the folder `masklet export-onnx MODEL -o DIR` wrote (implies --backend onnx)")(f)
    f = click.option("--backend", type=click.Choice(["torch", "onnx"]), default=None,
                     help="torch (default), or onnx: the exported graphs run by onnxruntime, torch not needed [with --graphs DIR]")(f)
    return f


def onnx_graphs(backend: str | None, graphs: Path | None) -> Path | None:
    """The graphs folder when the ONNX backend is chosen (None: the torch model), after
    refusing options that only the torch backend reads."""
    if backend == "onnx" and graphs is None:
        raise click.UsageError("--backend onnx needs --graphs DIR: the folder `masklet export-onnx MODEL -o DIR` wrote")
    if backend == "torch" and graphs is not None:
        raise click.UsageError("--graphs is for --backend onnx; leave it out to run the torch model")
    if graphs is None:
        return None
    ctx = click.get_current_context(silent=True)
    given = [name for param, name in (("model_name", "--model"), ("checkpoint", "--checkpoint"), ("device", "--device"), ("speed", "--speed"))
             if ctx is not None and ctx.get_parameter_source(param) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(f"{', '.join(given)}: for the torch backend; with --graphs the model is the exported one "
                               f"(choose it at `masklet export-onnx`), run on the CPU by onnxruntime")
    return graphs


def generator_options(f: Callable) -> Callable:
    """The automatic mask generator's settings, shared by `segment --all` and `track --all`."""
    options = [
        ("--points-per-side", int, 32, "a grid of N x N clicks on the image"),
        ("--points-per-batch", int, 64, "clicks through the decoder at once"),
        ("--pred-iou-thresh", float, None, "keep masks whose predicted IoU is above this [default: 0.8; 0.3 for masklet-nano]"),
        ("--stability-score-thresh", float, None,
         "... and whose stability under a threshold shift is at least this [default: 0.95; 0.5 for masklet-nano]"),
        ("--box-nms-thresh", float, 0.7, "box IoU above which the weaker of two masks is a duplicate"),
        ("--crop-n-layers", int, 0, "also look at overlapping crops: layer i has (2^i)^2 of them"),
        ("--min-region-area", int, 0, "remove holes and specks up to this area (low-resolution pixels)"),
    ]
    for name, kind, default, text in reversed(options):
        f = click.option(name, type=kind, default=default, show_default=default is not None, help=text)(f)
    return f


def generator_fields(options: dict) -> dict:
    """GeneratorSettings fields from the options of `generator_options`; thresholds not
    given are left out (the model's own apply)."""
    fields = {k: options[k] for k in GENERATOR_KEYS}
    fields["min_mask_region_area"] = fields.pop("min_region_area")
    return {k: v for k, v in fields.items() if v is not None}


def generator_settings(model, **options: object):
    """GeneratorSettings from the options of `generator_options` over the model's thresholds."""
    from ..inference.mask_generator import GeneratorSettings, model_thresholds

    iou_default, stability_default = model_thresholds(model)
    return GeneratorSettings(**{"pred_iou_thresh": iou_default, "stability_score_thresh": stability_default, **generator_fields(options)})


GENERATOR_KEYS = ("points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh",
                  "crop_n_layers", "min_region_area")


from . import batch, evaluate, export_onnx, families, generate, models, segment, serve, track, train  # noqa: F401  (register the commands)
