"""`masklet batch`: many videos tracked on a Ray cluster, resumable, failures recorded."""

from __future__ import annotations

from pathlib import Path

import click

from . import backend_options, main, model_options, onnx_graphs


@main.command()
@click.argument("manifest", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="outputs per video in OUTDIR/NAME/ (NNNNN.png as `masklet track -o` writes them), and OUTDIR/batch_summary.json")
@click.option("--ray-address", default=None, metavar="auto|HOST:PORT",
              help="a running Ray cluster (`ray start --head`); default: a local one on this machine's cores")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="worker actors, each with the model loaded (default: one per CPU)")
@click.option("--reverse", is_flag=True, help="propagate backward (toward frame 0)")
@click.option("--both", is_flag=True, help="propagate forward, then backward from the same start")
@click.option("--max-frames", type=click.IntRange(min=0), default=None, help="track at most this many frames past the start")
@click.option("--all", "everything", is_flag=True, help="track everything: the automatic masks of frame 0 become objects (no prompts needed)")
@click.option("--min-area", type=click.IntRange(min=0), default=0, show_default=True, help="--all: leave out masks smaller than this (pixels)")
@click.option("--max-objects", type=click.IntRange(1, 255), default=20, show_default=True, help="--all: at most this many objects")
@click.option("--rle", is_flag=True, help="also OUTDIR/NAME/masks.json: every mask in COCO RLE")
@click.option("--overlay", is_flag=True, help="also OUTDIR/NAME/overlay.mp4: the masks over the video")
@model_options
@backend_options
@click.option("-q", "--quiet", is_flag=True, help="no progress bar; only the closing line")
def batch(manifest: Path, out_dir: Path, ray_address: str | None, workers: int | None, reverse: bool, both: bool,
          max_frames: int | None, everything: bool, min_area: int, max_objects: int, rle: bool, overlay: bool, model_name: str,
          checkpoint: str | None, device: str | None, speed: str, backend: str | None, graphs: Path | None, quiet: bool) -> None:
    """Track every video of MANIFEST (JSON lines {"video", "output", "prompts"}, or a folder
    of videos with NAME.json prompts beside each), one Ray task per video."""
    from ..batch import SUMMARY, TrackSettings, track_many

    if reverse and both:
        raise click.UsageError("--reverse and --both exclude each other")
    graphs = onnx_graphs(backend, graphs)
    if everything and graphs is not None:
        raise click.UsageError("--all runs the automatic mask generator, which needs the torch backend: leave out --backend onnx / --graphs")
    settings = TrackSettings(model=model_name, checkpoint=checkpoint, device=device, speed=speed,
                             graphs=str(graphs.resolve()) if graphs else None,
                             direction="both" if both else "backward" if reverse else "forward", max_frames=max_frames,
                             everything=everything, min_area=min_area, max_objects=max_objects, rle=rle, overlay=overlay)
    results = track_many(manifest, out_dir, settings, ray_address=ray_address, workers=workers, progress=not quiet)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    for r in results:
        if r.status == "failed":
            click.echo(f"failed: {r.output} ({r.video}): {r.error}", err=True)
    click.echo(f"{len(results)} videos: {counts['done']} done, {counts['skipped']} skipped (complete), {counts['failed']} failed; "
               f"summary in {out_dir / SUMMARY}")
    if counts["failed"]:
        raise SystemExit(1)
