"""`masklet generate`: procedurally generated videos with exact masks, for training and evaluation."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="train", show_default=True)
@click.option("-n", "--num-sequences", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--first", type=click.IntRange(min=0), default=0, show_default=True,
              help="index of the first sequence (write a range, e.g. from several processes)")
@click.option("--frames", type=click.IntRange(min=2), default=16, show_default=True, help="frames per sequence")
@click.option("--size", default="320x192", show_default=True, help="WIDTHxHEIGHT of the frames")
@click.option("--objects", default="1-3", show_default=True, help="MIN-MAX annotated objects per sequence")
@click.option("--distractors", type=click.IntRange(min=0), default=1, show_default=True,
              help="at most this many unannotated look-alike copies of objects per sequence")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="real photos (images/*.jpg) and frames (videos/bedroom/*.jpg) for backgrounds and cut-outs "
                   "(default: the ones packaged with masklet, the same files as the shared data's)")
@click.option("--backgrounds", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="a folder of further photos for backgrounds and cut-outs (scripts/fetch_backgrounds.py writes one)")
@click.option("--wide", is_flag=True,
              help="wider variety: objects of ~1-30% of the frame, slow to fast, camouflaged ones, changing light")
@click.option("--cutouts", type=click.FloatRange(0, 1), default=None,
              help="share of objects cut out of photos, the rest textures (default: 0.5)")
@click.option("--clutter", type=click.IntRange(min=0), default=0, show_default=True,
              help="at most this many unannotated objects of their own appearance (textures and cut-outs) per sequence")
@click.option("--cutout-zoom", default="1-1", show_default=True,
              help="LOW-HIGH: a cut-out is taken from a square of its photo LOW to HIGH times the object's side, shrunk "
                   "to it (1: the photo's own scale; larger: more of the photo in the object, at a finer scale)")
@click.option("--background-zoom", default="0.5-0.9", show_default=True,
              help="LOW-HIGH: the camera's view as a share of the background photo's width")
def generate(out: Path, split: str, num_sequences: int, first: int, frames: int, size: str, objects: str, distractors: int, data_root: Path,
             backgrounds: Path | None, wide: bool, cutouts: float | None, clutter: int, cutout_zoom: str, background_zoom: str) -> None:
    """Write procedurally generated videos with exact masks in the DAVIS layout."""
    from dataclasses import replace

    from ..data.generator import BACKGROUNDS, WIDE, GeneratorConfig, write_dataset

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 320x192, got {size!r}", param_hint="--size") from None
    low, high = _range(objects, "--objects", 1, None, "2-4", int, ("MIN", "MAX"))
    cfg = replace(WIDE if wide else GeneratorConfig(), width=width, height=height, num_frames=frames, min_objects=low, max_objects=high,
                  max_distractors=distractors, max_clutter=clutter, cutout_zoom=_range(cutout_zoom, "--cutout-zoom", 1.0, 64.0, "1-8"),
                  background_zoom=_range(background_zoom, "--background-zoom", 0.05, 1.0, "0.4-1"))
    if cutouts is not None:
        cfg = replace(cfg, cutouts=cutouts)
    write_dataset(out, split, num_sequences, data_root or BACKGROUNDS, cfg, first=first, extra_backgrounds=backgrounds)
    click.echo(f"wrote {num_sequences} {split} sequences to {out}")


def _range(text: str, option: str, least: float, most: float | None, example: str, kind: type = float,
           names: tuple[str, str] = ("LOW", "HIGH")) -> tuple:
    """LOW-HIGH as two numbers of `kind` with least <= LOW <= HIGH (<= most), or a usage error naming the option."""
    low_name, high_name = names
    bounds = f"{least:g} <= {low_name} <= {high_name}" + ("" if most is None else f" <= {most:g}")
    try:
        low, high = (kind(v) for v in text.split("-"))
        if not (least <= low <= high and (most is None or high <= most)):  # NaN fails every comparison
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected {low_name}-{high_name} with {bounds}, such as {example}, got {text!r}",
                                 param_hint=option) from None
    return low, high
