"""The image-predictor parity cases, shared by the fixture script and the tests."""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(os.environ.get("MASKLET_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
IMAGES = {"truck": DATA / "images" / "truck.jpg", "groceries": DATA / "images" / "groceries.jpg"}
# Full case list on tiny (SAM 2), small (SAM 2.1) and EdgeTAM; base_plus and large (two
# heads, other window sizes, a 14x14 background position embedding) on a few cases.
# EdgeTAM's fixtures come from its own reference (make_edgetam_fixtures.py).
CONFIGS = ("sam2_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2_hiera_l", "edgetam")
FULL_CONFIGS = ("sam2_hiera_t", "sam2.1_hiera_s", "edgetam")
SAM2_CONFIGS = tuple(c for c in CONFIGS if c != "edgetam")

# Prompts in original-image pixels (x, y); boxes as x1, y1, x2, y2.
_PROMPTS = {
    "truck": dict(point=(500, 375), negative=(1125, 625), box=(425, 600, 700, 875), boxes=[(75, 275, 1725, 850), (425, 600, 700, 875), (1375, 550, 1650, 800)]),
    "groceries": dict(point=(600, 400), negative=(300, 300), box=(450, 250, 800, 600), boxes=[(100, 100, 400, 400), (450, 250, 800, 600)]),
}


def images_for(config: str) -> list[str]:
    return list(IMAGES) if config in FULL_CONFIGS else ["truck"]


def cases_for(image: str, config: str = FULL_CONFIGS[0]) -> list[tuple[str, dict]]:
    """(name, SAM2ImagePredictor.predict kwargs) for each case, in order."""
    import numpy as np

    p = _PROMPTS[image]
    cases = [
        ("click", dict(point_coords=np.array([p["point"]]), point_labels=np.array([1]), multimask_output=True)),
        ("pos_neg", dict(point_coords=np.array([p["point"], p["negative"]]), point_labels=np.array([1, 0]), multimask_output=False)),
        ("box", dict(box=np.array(p["box"]), multimask_output=False)),
        ("box_click", dict(point_coords=np.array([p["point"]]), point_labels=np.array([1]), box=np.array(p["box"]), multimask_output=False)),
        ("boxes", dict(box=np.array(p["boxes"]), multimask_output=False)),
        ("boxes_multi", dict(box=np.array(p["boxes"]), multimask_output=True)),
        ("mask_feedback", dict(point_coords=np.array([p["point"]]), point_labels=np.array([1]), mask_from_previous=True, multimask_output=False)),
    ]
    if config not in FULL_CONFIGS:
        cases = [c for c in cases if c[0] in ("click", "box_click")]
    return cases
