"""The video predictor against golden outputs of the reference (sam2==1.1.0).

make_video_fixtures.py ran video_cases.SCENARIOS with the reference under stand-in
weights (fill_hole_area=0 on both sides: the reference here has no CUDA extension for
hole filling). Every returned mask must have IoU >= 0.95 with the reference's, and the
mean IoU over the scenario must be >= 0.98; logits agree within 0.05. Object ids and frame order must match exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from video_cases import EDGETAM_SESSIONS, SCENARIOS, frames_dir, run_steps  # noqa: E402

import masklet  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.mark.parametrize("config", list(SCENARIOS))
def test_video_scenario_matches_reference(config: str, standin_checkpoint, tmp_path_factory) -> None:
    gold = dict(np.load(FIXTURES / f"video_{config}.npz"))
    video = frames_dir(tmp_path_factory.mktemp("video") / "bedroom8")
    predictor = masklet.build_sam2_video_predictor(config, standin_checkpoint(config), device="cpu", fill_hole_area=0)
    state = predictor.init_state(str(video))
    # Steps where the reference failed (no object pointer in memory on the CPU) have
    # nothing to compare; they are followed by a reset, so they are skipped here, and
    # tests/video covers masklet on that case.
    failed = frozenset(int(k.split("/")[0]) for k in gold if k.endswith("/error"))
    ours = run_steps(predictor, state, SCENARIOS[config], skip=failed)
    assert not [k for k in ours if k.endswith("/error")], "masklet failed a step"
    compare(ours, {k: v for k, v in gold.items() if not k.endswith("/error")})


@pytest.mark.parametrize("session", list(EDGETAM_SESSIONS))
def test_edgetam_sessions_match_the_edgetam_reference(session: str, standin_checkpoint, tmp_path_factory) -> None:
    """One object per session (the EdgeTAM reference's own limit): clicks with a
    refinement, reverse, a window, a reset and a new object; a box; a mask on a later frame."""
    gold = {k[len(session) + 1 :]: v for k, v in np.load(FIXTURES / "video_edgetam.npz").items() if k.startswith(f"{session}/")}
    video = frames_dir(tmp_path_factory.mktemp("video") / "bedroom8")
    predictor = masklet.build_sam2_video_predictor("edgetam", standin_checkpoint("edgetam"), device="cpu", fill_hole_area=0)
    ours = run_steps(predictor, predictor.init_state(str(video)), EDGETAM_SESSIONS[session])
    compare(ours, gold)


def compare(ours: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> None:
    """Every returned mask: same objects and frames, IoU >= 0.95 each, mean >= 0.98,
    logits within 0.05; the golden masks themselves neither empty nor full."""
    assert sorted(ours) == sorted(gold), "different steps, frames or objects were returned"
    ious, areas = [], []
    for key in sorted(k for k in gold if k.endswith("/masks")):
        prefix = key[: -len("/masks")]
        np.testing.assert_array_equal(ours[f"{prefix}/obj_ids"], gold[f"{prefix}/obj_ids"])
        width = 960
        a = np.unpackbits(ours[key], axis=-1)[..., :width].astype(bool)
        b = np.unpackbits(gold[key], axis=-1)[..., :width].astype(bool)
        assert a.shape == b.shape
        # Logits (every 8th pixel, float16 in the fixture) agree closely too.
        np.testing.assert_allclose(
            ours[f"{prefix}/logits_sub"].astype(np.float32), gold[f"{prefix}/logits_sub"].astype(np.float32), atol=0.05
        )
        for obj, (x, y) in enumerate(zip(a, b)):
            value = iou(x, y)
            ious.append(value)
            areas.append(y.mean())
            assert value >= 0.95, f"{prefix} object #{obj}: IoU {value:.4f}"
    assert np.mean(ious) >= 0.98, f"mean IoU {np.mean(ious):.4f}"
    # Fixtures of empty or full masks would agree with anything.
    assert 0.01 < np.median(areas) < 0.9 and max(areas) < 1.0, f"degenerate golden masks: areas {np.round(areas, 3)}"
