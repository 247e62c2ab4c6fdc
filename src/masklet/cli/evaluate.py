"""`masklet eval`: semi-supervised VOS scores (J, F, J&F) on a DAVIS-layout dataset."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command(name="eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "config", default="masklet-nano", show_default=True, help="model config (official name or alias)")
@click.option("--checkpoint", default=None, help="checkpoint file, URL, hub id or 'standin' (default: masklet-nano's packaged weights)")
@click.option("--baseline", "baselines", type=click.Choice(["copy", "no-memory"]), multiple=True,
              help="also score a baseline, side by side: copy the first-frame mask, or the model without memory (repeatable)")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the model's per-object scores")
@click.option("--save-masks", type=click.Path(file_okay=False, path_type=Path), default=None, help="write predicted PNGs here")
@click.option("--image-size", type=int, default=None, help="override the model's input size")
@click.option("--clicks", is_flag=True, help="also the interactive image protocol: mIoU after 1, 3 and 5 clicks on each "
              "sequence's middle frame")
@click.option("--ray-address", default=None, metavar="auto|HOST:PORT",
              help="share the sequences out to the workers of a Ray cluster (the same table and CSV)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="with Ray: worker actors (default: one per CPU); alone: a local Ray cluster of that many")
@click.option("-q", "--quiet", is_flag=True)
def eval_command(dataset: Path, config: str, checkpoint: str | None, baselines: tuple[str, ...], csv_path: Path | None,
                 save_masks: Path | None, image_size: int | None, clicks: bool, ray_address: str | None, workers: int | None,
                 quiet: bool) -> None:
    """Semi-supervised VOS on a DAVIS-layout DATASET: J, F and J&F (and baselines side by side)."""
    from ..eval.vos import comparison_table, evaluate_vos, vos_segmenters

    predictor, segmenters = vos_segmenters(config, checkpoint, image_size, baselines)
    if ray_address or workers:
        from ..batch import evaluate_many

        results = evaluate_many(dataset, config, checkpoint, image_size, baselines, save_masks, ray_address, workers, progress=not quiet)
    else:
        results = {label: evaluate_vos(dataset, segmenter, out_dir=save_masks if i == 0 else None, progress=not quiet)
                   for i, (label, segmenter) in enumerate(segmenters.items())}
    name = next(iter(results))
    click.echo(results[name].table())
    if csv_path:
        results[name].write_csv(csv_path)
    if baselines:
        click.echo("")
        click.echo(comparison_table(results))
    if clicks:
        from ..eval.interactive import click_miou, dataset_samples
        from ..inference.image_predictor import ImagePredictor

        samples = dataset_samples(dataset)
        scores = click_miou(ImagePredictor(predictor.model), samples)
        click.echo("")
        click.echo(f"interactive, {len(samples)} objects: " + "  ".join(f"{k}-click mIoU {v:.3f}" for k, v in scores.items()))
