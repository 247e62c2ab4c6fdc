"""`masklet track`: prompts on frames of a video, masklets through all of it."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from . import backend_options, generator_fields, generator_options, main, model_options, onnx_graphs

PREFIX_HELP = "; prefix OBJ@FRAME: for another object or frame, e.g. 2@30:640,400"


@main.command()
@click.argument("video", type=click.Path(exists=True, path_type=Path))
@click.option("--frame", type=click.IntRange(min=0), default=0, show_default=True, help="the frame the prompts are on")
@click.option("--obj", "obj_id", type=click.IntRange(1, 255), default=1, show_default=True, help="the object the prompts are for")
@click.option("--point", "points", multiple=True, metavar="[OBJ@FRAME:]X,Y[,LABEL]",
              help="a click in video pixels, LABEL 1 positive (default) or 0 negative" + PREFIX_HELP)
@click.option("--box", "boxes", multiple=True, metavar="[OBJ@FRAME:]X1,Y1,X2,Y2", help="a box around an object" + PREFIX_HELP)
@click.option("--mask", "masks", multiple=True, metavar="[OBJ@FRAME:]M.png", help="an object's mask (non-zero pixels)" + PREFIX_HELP)
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='JSON list of {"frame", "obj_id", "points", "labels", "box", "mask"}')
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder of per-frame masks, NNNNN.png palette-indexed (index = object id), the DAVIS layout")
@click.option("--overlay", type=click.Path(dir_okay=False, path_type=Path), default=None, help="MP4 of the masks over the video")
@click.option("--rle", type=click.Path(dir_okay=False, path_type=Path), default=None, help="JSON of every mask in COCO RLE")
@click.option("--reverse", is_flag=True, help="propagate backward (toward frame 0)")
@click.option("--both", is_flag=True, help="propagate forward, then backward from the same start")
@click.option("--start", type=click.IntRange(min=0), default=None, help="frame to propagate from (default: the first prompted)")
@click.option("--max-frames", type=click.IntRange(min=0), default=None, help="track at most this many frames past the start")
@click.option("--all", "everything", is_flag=True,
              help="track everything: the automatic masks of --frame become objects (the generator's options below)")
@click.option("--min-area", type=click.IntRange(min=0), default=0, show_default=True, help="--all: leave out masks smaller than this (pixels)")
@click.option("--max-objects", type=click.IntRange(1, 255), default=20, show_default=True, help="--all: at most this many objects")
@click.option("--reseed", type=click.IntRange(min=1), default=None, metavar="K",
              help="--all: every K frames, automatic masks that no tracked object covers join as new objects")
@click.option("--reseed-iou", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="--all: a mask overlapping a tracked object (or a chosen mask) by this IoU is the same object")
@generator_options
@model_options
@backend_options
@click.option("--force", is_flag=True,
              help="replace an existing -o folder even if masklet did not write it (never the input)")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars, nothing but errors")
def track(video: Path, frame: int, obj_id: int, points: tuple[str, ...], boxes: tuple[str, ...], masks: tuple[str, ...],
          prompts_file: Path | None, output: Path | None, overlay: Path | None, rle: Path | None, reverse: bool, both: bool,
          start: int | None, max_frames: int | None, everything: bool, min_area: int, max_objects: int, reseed: int | None,
          reseed_iou: float, model_name: str, checkpoint: str | None, device: str | None, speed: str, backend: str | None,
          graphs: Path | None, force: bool, quiet: bool, **generator: object) -> None:
    """Track objects through VIDEO (an MP4 or a folder of JPEG frames) from prompts on any frames (or --all: everything)."""
    from ..backends import video_predictor
    from ..inference.video_io import open_video
    from ..masks_io import OutputRefused, check_output, output_folder
    from ..prompts import load_prompts_file, prompts_from_args, split_target

    if output is None and overlay is None and rle is None:
        raise click.UsageError("nothing to write: give -o OUTDIR, --overlay OUT.mp4 and/or --rle OUT.json")
    if reverse and both:
        raise click.UsageError("--reverse and --both exclude each other")
    graphs = onnx_graphs(backend, graphs)
    if everything and graphs is not None:
        raise click.UsageError("--all runs the automatic mask generator, which needs the torch backend: leave out --backend onnx / --graphs")
    inputs = [video, *([prompts_file] if prompts_file else []), *(split_target(m, obj_id, frame)[2] for m in masks)]
    try:
        if output is not None:
            check_output(output, inputs, folder=True, force=force)
        for path in (overlay, rle):
            if path is not None:
                check_output(path, inputs)
    except OutputRefused as exc:
        raise click.UsageError(str(exc)) from None
    try:
        prompts = prompts_from_args(points, boxes, masks, obj_id, frame)
    except (ValueError, FileNotFoundError) as exc:
        raise click.BadParameter(str(exc), param_hint="--point/--box/--mask") from None
    if prompts_file is not None:
        try:
            prompts += load_prompts_file(prompts_file)
        except (ValueError, FileNotFoundError) as exc:
            raise click.BadParameter(str(exc), param_hint="--prompts") from None
    if everything and (prompts or reverse or both or start is not None):
        raise click.UsageError("--all finds the objects by itself on --frame and tracks forward: leave out prompts, --reverse, --both, --start")
    if not prompts and not everything:
        raise click.UsageError("no prompts: give --point, --box, --mask or --prompts (or --all)")
    source = open_video(video)
    for p in prompts:
        try:
            p.check(source.num_frames, source.height, source.width)
        except IndexError as exc:
            raise click.BadParameter(f"{exc} ({video})", param_hint="--frame") from None
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--point/--box/--mask") from None
    if everything and frame >= source.num_frames:
        raise click.BadParameter(f"frame {frame} out of range: {video} has {source.num_frames} frames", param_hint="--frame")
    if start is not None and start >= source.num_frames:
        raise click.BadParameter(f"frame {start} out of range: {video} has {source.num_frames} frames", param_hint="--start")

    from ..tracking import EverythingPlan, track_source

    plan = None
    if everything:
        plan = EverythingPlan(generator=generator_fields(generator), min_area=min_area, max_objects=max_objects,
                              reseed_every=reseed, duplicate_iou=reseed_iou)

    def found(t: int, ids: list[int]) -> None:
        if not quiet:
            click.echo(f"frame {t}: {len(ids)} new object(s), ids {ids[0]}..{ids[-1]}", err=True)

    direction = "both" if both else "backward" if reverse else "forward"
    with source, ExitStack() as stack:
        predictor = video_predictor(model_name, checkpoint, device, speed, graphs)
        folder = stack.enter_context(output_folder(output, inputs, force)) if output is not None else None
        written, num_objects = track_source(predictor, source, prompts, folder, overlay=overlay, rle=rle, direction=direction,
                                            start=start, max_frames=max_frames, everything=plan, everything_frame=frame,
                                            quiet=quiet, on_new=found)
    if not quiet:
        outputs = [str(p) for p in (output, overlay, rle) if p is not None]
        click.echo(f"tracked {num_objects} object(s) over {written} frames: wrote {', '.join(outputs)}")
