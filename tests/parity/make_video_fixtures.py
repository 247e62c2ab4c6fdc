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


def main() -> None:
    from sam2.build_sam import build_sam2_video_predictor

    configs = sys.argv[1:] or list(SCENARIOS)
    video = frames_dir(Path(tempfile.mkdtemp()) / "bedroom8")
    for config in configs:
        ckpt = save_standin_checkpoint(config, Path("/tmp/masklet-standin") / f"{config}.pt")
        version = config.split("_hiera_")[0]
        predictor = build_sam2_video_predictor(
            f"configs/{version}/{config}.yaml", str(ckpt), device="cpu", hydra_overrides_extra=["++model.fill_hole_area=0"]
        )
        with torch.inference_mode():
            state = predictor.init_state(str(video))
            out = run_steps(predictor, state, SCENARIOS[config])
        np.savez_compressed(ROOT / "tests" / "parity" / "fixtures" / f"video_{config}.npz", **out)
        print(config, len(out), "arrays")


if __name__ == "__main__":
    main()
