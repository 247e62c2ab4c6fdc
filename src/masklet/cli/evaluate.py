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
@click.option("-q", "--quiet", is_flag=True)
def eval_command(dataset: Path, config: str, checkpoint: str | None, baselines: tuple[str, ...], csv_path: Path | None,
                 save_masks: Path | None, image_size: int | None, clicks: bool, quiet: bool) -> None:
    """Semi-supervised VOS on a DAVIS-layout DATASET: J, F and J&F (and baselines side by side)."""
    from ..build import build_model
    from ..checkpoint import EMBEDDED_WEIGHTS
    from ..eval.vos import comparison_table, copy_first_frame_segmenter, evaluate_vos, sam2_segmenter
    from ..inference.video_predictor import VideoPredictor
    from ..presets import canonical_name

    name = canonical_name(config)
    if checkpoint is None and name not in EMBEDDED_WEIGHTS:
        raise click.UsageError(f"--checkpoint is needed for {name} (only masklet-nano ships its weights)")
    overrides = {"image_size": image_size} if image_size else {}
    predictor = VideoPredictor(build_model(name, checkpoint or name, **overrides), fill_hole_area=0)
    results = {name: evaluate_vos(dataset, sam2_segmenter(predictor), out_dir=save_masks, progress=not quiet)}
    click.echo(results[name].table())
    if csv_path:
        results[name].write_csv(csv_path)
    for baseline in baselines:
        segmenter = copy_first_frame_segmenter() if baseline == "copy" else sam2_segmenter(predictor, memory=False)
        label = "copy first frame" if baseline == "copy" else "without memory"
        results[label] = evaluate_vos(dataset, segmenter, progress=not quiet)
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
