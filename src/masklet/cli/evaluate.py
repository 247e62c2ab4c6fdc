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
@click.option("--by-size", is_flag=True, help="also J&F per object-size bucket (share of the prompted frame)")
@click.option("-q", "--quiet", is_flag=True)
def eval_command(dataset: Path, config: str, checkpoint: str | None, baselines: tuple[str, ...], csv_path: Path | None,
                 save_masks: Path | None, image_size: int | None, clicks: bool, ray_address: str | None, workers: int | None,
                 by_size: bool, quiet: bool) -> None:
    """Semi-supervised VOS on a DAVIS-layout DATASET: J, F and J&F (and baselines side by side).

    DATASET may also be a folder of such datasets (the test families of `masklet
    test-families`): then J&F per family and per object size, each method side by side."""
    from ..eval.families import SIZE_BUCKETS, size_bucket
    from ..eval.vos import VosResult, breakdown_table, comparison_table, evaluate_vos, require_weights, vos_segmenters

    require_weights(config, checkpoint)  # said before anything about the dataset
    datasets = family_datasets(dataset)
    if len(datasets) > 1 and not baselines:
        baselines = ("copy", "no-memory")  # a family is judged against both
    predictor, segmenters = vos_segmenters(config, checkpoint, image_size, baselines)
    family_of: dict[str, str] = {}
    results: dict[str, VosResult] = {}
    for family, root in datasets.items():
        out = save_masks / family if (save_masks and family) else save_masks
        if ray_address or workers:
            from ..batch import evaluate_many

            part = evaluate_many(root, config, checkpoint, image_size, baselines, out, ray_address, workers, progress=not quiet)
        else:
            part = {label: evaluate_vos(root, segmenter, out_dir=out if i == 0 else None, progress=not quiet)
                    for i, (label, segmenter) in enumerate(segmenters.items())}
        for label, result in part.items():
            results.setdefault(label, VosResult()).objects += result.objects
            family_of.update({o.sequence: family for o in result.objects})
    name = next(iter(results))
    if len(datasets) == 1:
        click.echo(results[name].table())
    if csv_path:
        results[name].write_csv(csv_path)
    if len(datasets) > 1:
        click.echo(breakdown_table(results, lambda o: family_of[o.sequence], "family (J&F)", list(datasets)))
    if len(datasets) > 1 or by_size:
        click.echo("")
        click.echo(breakdown_table(results, lambda o: size_bucket(o.area), "object size", [b[2] for b in SIZE_BUCKETS]))
    if baselines or len(datasets) > 1:
        click.echo("")
        click.echo(comparison_table(results))
    if clicks:
        from ..eval.interactive import click_miou, dataset_samples
        from ..inference.image_predictor import ImagePredictor

        samples = [s for root in datasets.values() for s in dataset_samples(root)]
        scores = click_miou(ImagePredictor(predictor.model), samples)
        click.echo("")
        click.echo(f"interactive, {len(samples)} objects: " + "  ".join(f"{k}-click mIoU {v:.3f}" for k, v in scores.items()))


def family_datasets(dataset: Path) -> dict[str, Path]:
    """{"": DATASET} for one DAVIS-layout dataset, {family: folder} for a folder of them."""
    if (dataset / "JPEGImages").is_dir():
        return {"": dataset}
    found = {d.name: d for d in sorted(dataset.iterdir()) if (d / "JPEGImages").is_dir()}
    if not found:
        raise click.BadParameter(f"{dataset} holds no JPEGImages/ folder, nor folders that do (a DAVIS layout)", param_hint="DATASET")
    return found
