"""The image predictor against golden outputs of the reference (sam2==1.1.0).

Fixtures come from make_image_fixtures.py, run once with the reference environment under
stand-in weights; these tests need only masklet. Tolerances, tight to loose: scores
within 0.01, every mask IoU >= 0.99, low-res logits (every 4th) within 0.05.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from image_cases import CONFIGS, IMAGES, cases_for, images_for  # noqa: E402

import masklet  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
PARAMS = [(c, i, name) for c in CONFIGS for i in images_for(c) for name, _ in cases_for(i, c)]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.fixture(scope="module")
def predictors(standin_checkpoint):
    cache: dict[tuple[str, str], masklet.SAM2ImagePredictor] = {}

    def get(config: str, image: str) -> masklet.SAM2ImagePredictor:
        if (config, image) not in cache:
            for key in [k for k in cache if k[0] != config]:
                del cache[key]  # one model at a time keeps memory small
            model = next((p.model for (c, _), p in cache.items() if c == config), None)
            model = model or masklet.build_sam2(config, standin_checkpoint(config), device="cpu")
            predictor = masklet.SAM2ImagePredictor(model)
            predictor.set_image(np.array(Image.open(IMAGES[image]).convert("RGB")))
            cache[(config, image)] = predictor
        return cache[(config, image)]

    return get


@pytest.mark.parametrize("config,image,case", PARAMS, ids=["/".join(p) for p in PARAMS])
def test_matches_reference(predictors, config: str, image: str, case: str) -> None:
    gold = np.load(FIXTURES / f"image_{config}.npz")
    key = f"{image}/{case}"
    kwargs = dict(dict(cases_for(image, config))[case])
    if kwargs.pop("mask_from_previous", False):
        kwargs["mask_input"] = gold[f"{key}/mask_input"].astype(np.float32)
    masks, scores, low_res = predictors(config, image).predict(**kwargs)

    shape = tuple(gold[f"{key}/masks_shape"])
    assert masks.shape == shape
    assert str(masks.dtype) == str(gold[f"{key}/masks_dtype"])
    assert low_res.shape == tuple(gold[f"{key}/low_res_shape"])
    assert scores.shape == gold[f"{key}/scores"].shape

    expected = np.unpackbits(gold[f"{key}/masks"], axis=-1)[..., : shape[-1]].astype(bool).reshape(shape)
    ours = masks.astype(bool).reshape(-1, *shape[-2:])
    for i, (a, b) in enumerate(zip(ours, expected.reshape(-1, *shape[-2:]))):
        assert mask_iou(a, b) >= 0.99, f"mask {i}: IoU {mask_iou(a, b):.4f}"
    np.testing.assert_allclose(scores, gold[f"{key}/scores"], atol=0.01)
    np.testing.assert_allclose(low_res[..., ::4, ::4], gold[f"{key}/low_res_sub"].astype(np.float32), atol=0.05)
