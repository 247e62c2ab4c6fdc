"""Regenerate the video-predictor golden outputs with the reference implementation.

    /tmp/sam2-reference/bin/python tests/parity/make_video_fixtures.py

Runs video_cases.SCENARIOS with the reference's SAM2VideoPredictor (fill_hole_area=0:
the reference is built without its CUDA extension) under stand-in weights and saves
every returned mask to tests/parity/fixtures/video_<config>.npz.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "parity"))

from video_cases import SCENARIOS, frames_dir, run_steps  # noqa: E402

from masklet.standin import save_standin_checkpoint  # noqa: E402


def record(config: str, yaml: str, sessions: dict[str, list[tuple]]) -> None:
    """Run each session (a fresh state each) with the reference; save every returned mask,
    keyed "<session>/<step>/<frame>/...", to fixtures/video_<config>.npz."""
    from sam2.build_sam import build_sam2_video_predictor

    video = frames_dir(Path(tempfile.mkdtemp()) / "bedroom8")
    ckpt = save_standin_checkpoint(config, Path("/tmp/masklet-standin") / f"{config}.pt")
    predictor = build_sam2_video_predictor(yaml, str(ckpt), device="cpu", hydra_overrides_extra=["++model.fill_hole_area=0"])
    out = {}
    with torch.inference_mode():
        for name, steps in sessions.items():
            state = predictor.init_state(str(video))
            out.update({f"{name}/{k}" if name else k: v for k, v in run_steps(predictor, state, steps).items()})
    np.savez_compressed(ROOT / "tests" / "parity" / "fixtures" / f"video_{config}.npz", **out)
    print(config, len(out), "arrays")


def main() -> None:
    for config in sys.argv[1:] or list(SCENARIOS):
        version = config.split("_hiera_")[0]
        record(config, f"configs/{version}/{config}.yaml", {"": SCENARIOS[config]})


if __name__ == "__main__":
    main()
