"""One video tracked from its prompts and its outputs written: what `masklet track` and
each video of `masklet batch` do, one code path for both (so their outputs are equal)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import NotReady
from .prompts import Prompt, apply_prompt


@dataclass(frozen=True)
class EverythingPlan:
    """track --all: the generator's settings (None: the model's defaults) and which masks become objects."""

    generator: dict | None = None  # GeneratorSettings fields
    min_area: int = 0
    max_objects: int = 20
    reseed_every: int | None = None
    duplicate_iou: float = 0.5


def frames_to_visit(num_frames: int, direction: str, start: int, max_frames: int | None) -> int:
    """How many frames a propagation from `start` yields."""
    reach = num_frames if max_frames is None else max_frames + 1
    forward, backward = min(num_frames - start, reach), min(start + 1, reach)
    return {"forward": forward, "backward": backward, "both": forward + backward - 1}[direction]


def track_source(predictor, source, prompts: list[Prompt], folder: Path | None, *, overlay: Path | None = None,
                 rle: Path | None = None, direction: str = "forward", start: int | None = None, max_frames: int | None = None,
                 everything: EverythingPlan | None = None, everything_frame: int = 0, quiet: bool = True,
                 on_frame: Callable[[int], None] | None = None, on_new: Callable[[int, list[int]], None] | None = None) -> tuple[int, int]:
    """Track the prompted objects (or, with `everything`, the automatic masks of
    `everything_frame`) through an open video and write per-frame palette PNGs into
    `folder` (an existing folder; None: a scratch one), the overlay MP4 and the COCO RLE
    JSON. Returns (frames written, objects)."""
    with predictor.start(source) as session:
        results = None
        if everything is not None:
            from .inference.everything import EverythingSettings, track_everything
            from .inference.mask_generator import GeneratorSettings, MaskGenerator, model_thresholds

            if predictor.backend != "torch":
                from .errors import Unsupported

                raise Unsupported("tracking everything runs the automatic mask generator, which needs the torch backend")
            iou, stability = model_thresholds(predictor.model)
            settings = {"pred_iou_thresh": iou, "stability_score_thresh": stability, **(everything.generator or {})}
            generator = MaskGenerator(predictor.model, GeneratorSettings(**settings))
            chosen = EverythingSettings(min_area=everything.min_area, max_objects=everything.max_objects,
                                        duplicate_iou=everything.duplicate_iou, reseed_every=everything.reseed_every)
            results = track_everything(predictor, session, generator, chosen, start=everything_frame, max_frames=max_frames,
                                       on_new=on_new)
            direction, start = "forward", everything_frame
        for p in prompts:
            apply_prompt(predictor, session, p, clear_old_points=False)
        if start is None:
            start = max(p.frame for p in prompts) if direction == "backward" else min(p.frame for p in prompts)
        if results is None:
            results = predictor.propagate_directions(session, direction, start, max_frames)
        total = frames_to_visit(source.num_frames, direction, start, max_frames)
        written = write_outputs(results, source, session, folder, overlay, rle, total, f"track {direction}", quiet, on_frame)
        if written == 0:
            # Nothing tracked (track --all found no object): nothing is written.
            raise NotReady(f"no object was found on frame {start}: no automatic mask passed the thresholds and --min-area; "
                           f"lower --pred-iou-thresh, --stability-score-thresh or --min-area")
        return written, len(session.obj_ids)


def write_outputs(results: Iterable, source, session, folder: Path | None, overlay: Path | None, rle: Path | None, total: int,
                  desc: str, quiet: bool, on_frame: Callable[[int], None] | None = None) -> int:
    """Each frame's masks (as they come) as NNNNN.png in `folder`, then the overlay and
    the RLE JSON (each atomically). Returns how many frames were written."""
    from PIL import Image
    from tqdm import tqdm

    from .atomic import atomic_path
    from .masks_io import label_map, save_label_png
    from .overlay import VideoWriter
    from .overlay import overlay as draw
    from .rle import rle_encode

    with ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rle_frames = {}
        bar = tqdm(desc=desc, unit="frame", disable=quiet, total=total)
        for count, result in enumerate(results):
            binary = result.binary()
            save_label_png(label_map(result.obj_ids, binary), folder / f"{result.frame_idx:05d}.png")
            if rle is not None:
                rle_frames[result.frame_idx] = {str(i): rle_encode(m) for i, m in zip(result.obj_ids, binary)}
            bar.update(1)
            if on_frame is not None:
                on_frame(count)
        bar.close()
        frames = sorted(int(p.stem) for p in folder.glob("*.png"))
        if not frames:
            return 0
        if overlay is not None:
            with VideoWriter(overlay, fps=source.fps or 30.0) as writer:
                for t in tqdm(frames, desc="overlay", unit="frame", disable=quiet):
                    writer.write(draw(source.frame(t), np.asarray(Image.open(folder / f"{t:05d}.png"))))
        if rle is not None:
            doc = {"size": [source.height, source.width], "obj_ids": session.obj_ids,
                   "frames": [{"frame": t, "masks": rle_frames[t]} for t in sorted(rle_frames)]}
            with atomic_path(rle) as tmp:
                tmp.write_text(json.dumps(doc))
    return len(frames)
