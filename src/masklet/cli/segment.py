"""`masklet segment`: one image, clicks and/or a box, a mask PNG; or `--all`: every
object of the image (the automatic mask generator), as COCO RLE JSON or a label PNG."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from . import GENERATOR_KEYS, backend_options, generator_options, generator_settings, main, model_options, onnx_graphs


def _refuse_overwriting_input(image: Path, *outputs: Path | None) -> None:
    """A usage error when an output would be, or lie inside, the input image."""
    from ..masks_io import OutputRefused, check_output

    try:
        for path in outputs:
            if path is not None:
                check_output(path, [image])
    except OutputRefused as exc:
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--point", "points", multiple=True, metavar="X,Y[,LABEL]",
              help="a click in image pixels; LABEL 1 positive (default), 0 negative (repeatable)")
@click.option("--box", default=None, metavar="X1,Y1,X2,Y2", help="a box around the object")
@click.option("--all", "everything", is_flag=True, help="every object: the automatic mask generator (a grid of clicks)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the mask PNG (0 background, 255 object; default mask.png); with --multimask, NAME-0.png ... by score; "
                   "with --all, masks.json (COCO RLE records, the default) or a .png label map (masks drawn largest first)")
@click.option("--overlay", type=click.Path(dir_okay=False, path_type=Path), default=None, help="the image with the mask drawn over it")
@click.option("--multimask", is_flag=True, help="write all three candidate masks with their scores")
@generator_options
@model_options
@backend_options
@click.option("-q", "--quiet", is_flag=True, help="print nothing but errors")
def segment(image: Path, points: tuple[str, ...], box: str | None, everything: bool, output: Path | None, overlay: Path | None,
            multimask: bool, model_name: str, checkpoint: str | None, device: str | None, speed: str, backend: str | None,
            graphs: Path | None, quiet: bool, **generator: object) -> None:
    """Segment the object at the given clicks/box in IMAGE (or --all: every object); write the mask(s)."""
    graphs = onnx_graphs(backend, graphs)
    if everything and graphs is not None:
        raise click.UsageError("--all runs the automatic mask generator, which needs the torch backend: leave out --backend onnx / --graphs")
    if everything:
        if points or box is not None or multimask:
            raise click.UsageError("--all finds every object by itself: leave out --point, --box and --multimask")
        return segment_all(image, output or Path("masks.json"), overlay, model_name, checkpoint, device, quiet, generator)
    output = output or Path("mask.png")
    from PIL import Image

    from ..atomic import atomic_path
    from ..inference.video_io import read_image
    from ..overlay import overlay as draw
    from ..prompts import parse_box, parse_point

    if not points and box is None:
        raise click.UsageError("give at least one --point X,Y or a --box X1,Y1,X2,Y2")
    try:
        clicks = [parse_point(p) for p in points]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--point") from None
    try:
        box_xyxy = parse_box(box) if box is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--box") from None
    _refuse_overwriting_input(image, output, overlay)
    frame = read_image(image)
    h, w = frame.shape[:2]
    for x, y, _ in clicks:
        if not (0 <= x < w and 0 <= y < h):
            raise click.BadParameter(f"point ({x:g}, {y:g}) lies outside the {w}x{h} image", param_hint="--point")

    masks, scores = predict_masks(
        frame, model_name, checkpoint, device, graphs,
        point_coords=np.array([c[:2] for c in clicks], dtype=np.float32) if clicks else None,
        point_labels=np.array([c[2] for c in clicks], dtype=np.int32) if clicks else None,
        box=np.array(box_xyxy, dtype=np.float32) if box_xyxy else None,
        multimask_output=multimask or len(clicks) == 1 and box_xyxy is None,
    )
    order = np.argsort(-scores)
    if multimask:
        paths = [output.with_name(f"{output.stem}-{rank}{output.suffix or '.png'}") for rank in range(len(order))]
    else:
        order, paths = order[:1], [output]  # the best candidate, as SAM does for one click
    for path, k in zip(paths, order):
        with atomic_path(path) as tmp:
            Image.fromarray(masks[k].astype(np.uint8) * 255).save(tmp, format="PNG")
        if not quiet:
            click.echo(f"{path}: score {scores[k]:.3f}, {masks[k].mean():.1%} of the image")
    if overlay is not None:
        with atomic_path(overlay) as tmp:
            Image.fromarray(draw(frame, masks[order[0]].astype(np.uint8))).save(tmp, format=Image.registered_extensions().get(overlay.suffix.lower(), "PNG"))
        if not quiet:
            click.echo(f"{overlay}: overlay")


def predict_masks(frame: np.ndarray, model_name: str, checkpoint: str | None, device: str | None, graphs: Path | None,
                  **prompt: object) -> tuple[np.ndarray, np.ndarray]:
    """The candidate masks (K, H, W) bool and their scores (K,) for one prompt, from the
    exported graphs (masklet.runtime) or the torch model."""
    if graphs is not None:
        from ..runtime import ImagePredictor as RuntimeImagePredictor

        predictor = RuntimeImagePredictor(graphs, apply_postprocessing=False)  # as the torch path below
        predictor.set_image(frame)
        masks, scores, _ = predictor.predict(**prompt)
        return masks > 0, scores
    from ..build import load_model
    from ..inference.image_predictor import ImagePredictor

    predictor = ImagePredictor(load_model(model_name, checkpoint, device))  # --speed: memory attention only, not here
    predictor.set_image(frame)
    pred = predictor.predict(**prompt)
    return pred.masks[0].cpu().numpy(), pred.iou_scores[0].float().cpu().numpy()


def segment_all(image: Path, output: Path, overlay: Path | None, model_name: str, checkpoint: str | None, device: str | None,
                quiet: bool, generator: dict) -> None:
    """`segment --all`: every mask of the image, with a progress bar over point batches and crops."""
    import json

    from PIL import Image
    from tqdm import tqdm

    from ..atomic import atomic_path
    from ..compat.automatic_mask_generator import mask_record
    from ..inference.everything import everything_labels
    from ..inference.mask_generator import MaskGenerator
    from ..inference.video_io import read_image
    from ..overlay import overlay as draw

    if output.suffix.lower() not in (".json", ".png"):
        raise click.BadParameter(f"{output}: write --all masks to a .json (COCO RLE) or a .png (label map)", param_hint="-o")
    _refuse_overwriting_input(image, output, overlay)
    from ..build import load_model

    frame = read_image(image)
    model = load_model(model_name, checkpoint, device)
    generator = MaskGenerator(model, generator_settings(model, **{k: generator[k] for k in GENERATOR_KEYS}))
    with tqdm(total=generator.steps(frame.shape[:2]), desc="segment everything", unit="batch", disable=quiet) as bar:
        found = generator.generate(frame, progress=lambda: bar.update(1))
    if output.suffix.lower() == ".json":
        with atomic_path(output) as tmp:
            tmp.write_text(json.dumps([mask_record(m, "coco_rle") for m in found]))
    labels = everything_labels([m.mask for m in found], frame.shape[:2]) if output.suffix.lower() == ".png" or overlay else None
    if output.suffix.lower() == ".png":
        with atomic_path(output) as tmp:
            if labels.dtype == np.uint8:
                from ..masks_io import label_png

                label_png(labels).save(tmp, format="PNG")
            else:
                Image.fromarray(labels).save(tmp, format="PNG")  # more than 255 masks: 16-bit
    if overlay is not None:
        colours = (labels.astype(np.int64) - 1) % 255 + 1  # the palette's 255 colours, reused beyond
        with atomic_path(overlay) as tmp:
            Image.fromarray(draw(frame, np.where(labels > 0, colours, 0).astype(np.uint8))).save(
                tmp, format=Image.registered_extensions().get(overlay.suffix.lower(), "PNG"))
    if not quiet:
        click.echo(f"{len(found)} masks: wrote {', '.join(str(p) for p in (output, overlay) if p is not None)}")
