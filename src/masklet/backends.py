"""Which engine answers: the torch model, or its exported ONNX graphs run by
masklet.runtime (no torch). The command line and the service choose here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .inference.video_predictor import VideoPredictor
    from .runtime import VideoPredictor as RuntimeVideoPredictor


def video_predictor(model: str = "masklet-nano", checkpoint: str | None = None, device: str | None = None,
                    speed: str = "exact", graphs: str | os.PathLike | None = None) -> VideoPredictor | RuntimeVideoPredictor:
    """masklet.runtime's video predictor over `graphs` when given, else the torch model's;
    both offer start, add_points, add_mask, remove_object and propagate_directions."""
    if graphs is not None:
        from .runtime import VideoPredictor as RuntimeVideoPredictor

        # Without the official builder's postprocessing, as the torch path runs: the same answers.
        return RuntimeVideoPredictor(graphs, apply_postprocessing=False)
    from .build import load_model, tracker_options
    from .inference.video_predictor import VideoPredictor

    return VideoPredictor(load_model(model, checkpoint, device), tracker_options(speed, model))
