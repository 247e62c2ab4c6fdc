"""`masklet export-onnx`: the model as ONNX graphs for masklet.runtime (no torch needed to run them)."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command("export-onnx")
@click.argument("model_name", metavar="MODEL", default="masklet-nano")
@click.option("--checkpoint", default=None, help="checkpoint file, URL, hub id or 'standin' (default: the model's own)")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="folder for the graphs")
@click.option("--int8", is_flag=True, help="also an image encoder with int8 weights (ImagePredictor(DIR, int8=True))")
@click.option("--force", is_flag=True, help="replace an existing folder that masklet did not write")
def export_onnx(model_name: str, checkpoint: str | None, out: Path, int8: bool, force: bool) -> None:
    """Write MODEL as ONNX graphs (image encoder, prompt decoder), manifest.json and params.npz into a folder."""
    from ..build import load_model
    from ..export.onnx import export_onnx as write
    from ..masks_io import output_folder

    # The model as it is: the official builders' postprocessing is the runtime's choice
    # (apply_postprocessing, on by default as theirs), so one export serves both ways.
    model = load_model(model_name, checkpoint, "cpu")
    with output_folder(out, force=force) as tmp:
        write(model, tmp, model_name, int8=int8)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    click.echo(f"wrote {out} ({size:.0f} MB): run it with masklet.runtime.ImagePredictor({str(out)!r})")
