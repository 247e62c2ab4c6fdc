"""The `masklet` command line (also `python -m masklet`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="masklet")
def main() -> None:
    """masklet: SAM 2 promptable segmentation of images and videos."""


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="train", show_default=True)
@click.option("-n", "--num-sequences", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--frames", type=click.IntRange(min=2), default=16, show_default=True, help="frames per sequence")
@click.option("--size", default="320x192", show_default=True, help="WIDTHxHEIGHT of the frames")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=SHARED_DATA, show_default=True,
              help="real photos and frames for backgrounds and cut-outs")
def generate(out: Path, split: str, num_sequences: int, frames: int, size: str, data_root: Path) -> None:
    """Write procedurally generated videos with exact masks in the DAVIS layout."""
    from .data.generator import GeneratorConfig, write_dataset

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 320x192, got {size!r}", param_hint="--size") from None
    write_dataset(out, split, num_sequences, data_root, GeneratorConfig(width=width, height=height, num_frames=frames))
    click.echo(f"wrote {num_sequences} {split} sequences to {out}")


@main.command(name="eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "config", default="sam2.1_hiera_t", show_default=True, help="model config (official name or alias)")
@click.option("--checkpoint", required=True, help="checkpoint file, URL, hub id or 'standin'")
@click.option("--baseline", type=click.Choice(["none", "copy", "no-memory"]), default="none", show_default=True,
              help="score a baseline instead: copy the first-frame mask, or the model without memory")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write per-object scores")
@click.option("--save-masks", type=click.Path(file_okay=False, path_type=Path), default=None, help="write predicted PNGs here")
@click.option("--image-size", type=int, default=None, help="override the model's input size")
@click.option("-q", "--quiet", is_flag=True)
def eval_command(dataset: Path, config: str, checkpoint: str, baseline: str, csv_path: Path | None, save_masks: Path | None,
                 image_size: int | None, quiet: bool) -> None:
    """Semi-supervised VOS on a DAVIS-layout DATASET: J, F and J&F."""
    from .eval.vos import copy_first_frame_segmenter, evaluate_vos, sam2_segmenter

    if baseline == "copy":
        segmenter = copy_first_frame_segmenter()
    else:
        from .build import build_model
        from .inference.video_predictor import VideoPredictor

        overrides = {"image_size": image_size} if image_size else {}
        predictor = VideoPredictor(build_model(config, checkpoint, **overrides), fill_hole_area=0)
        segmenter = sam2_segmenter(predictor, memory=baseline != "no-memory")
    result = evaluate_vos(dataset, segmenter, out_dir=save_masks, progress=not quiet)
    click.echo(result.table())
    if csv_path:
        result.write_csv(csv_path)


@main.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "config", default="sam2.1_hiera_t", show_default=True)
@click.option("--init", default=None, help="start from this checkpoint (or 'standin'); default: random init")
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--clip-len", type=click.IntRange(1, 8), default=8, show_default=True)
@click.option("--freeze-image-encoder", is_flag=True)
@click.option("--image-size", type=int, default=None, help="override the model's input size")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=100, show_default=True)
def train(dataset: Path, out: Path, config: str, init: str | None, steps: int, lr: float, clip_len: int,
          freeze_image_encoder: bool, image_size: int | None, seed: int, save_every: int) -> None:
    """Train or fine-tune on a DAVIS-layout DATASET; checkpoints and losses.csv go to OUT (resumable)."""
    from .train import TrainConfig
    from .train import train as run

    overrides = {"image_size": image_size} if image_size else {}
    cfg = TrainConfig(steps=steps, lr=lr, clip_len=clip_len, freeze_image_encoder=freeze_image_encoder, seed=seed, save_every=save_every)
    result = run(config, dataset, out, cfg, init=init, **overrides)
    click.echo(f"step {result.step}: {result.checkpoint}")


if __name__ == "__main__":
    sys.exit(main())
