"""The official image API over masklet: names, arguments, return types, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import masklet
from masklet.compat import parse_hydra_overrides

POINT = np.array([[500, 375]])
LABEL = np.array([1])


@pytest.fixture(scope="module")
def predictor(tiny_model, truck):
    p = masklet.SAM2ImagePredictor(tiny_model)
    p.set_image(truck)
    return p


def test_build_sam2_defaults(tiny_model) -> None:
    assert tiny_model.device.type == "cpu" and not tiny_model.training
    assert tiny_model.cfg.mask_decoder.dynamic_multimask_via_stability  # apply_postprocessing


def test_build_sam2_accepts_official_config_paths_and_modes(standin_checkpoint) -> None:
    model = masklet.build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", standin_checkpoint("sam2.1_hiera_t"), device=None, mode="train", apply_postprocessing=False)
    assert model.training and not model.cfg.mask_decoder.dynamic_multimask_via_stability
    assert model.device == masklet.pick_device()


def test_hydra_overrides() -> None:
    parsed = parse_hydra_overrides(
        ["++model.fill_hole_area=0", "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.9", "++model.binarize_mask_from_pts_for_mem_enc=true"]
    )
    assert parsed == {"fill_hole_area": 0, "mask_decoder.dynamic_multimask_stability_thresh": 0.9, "binarize_mask_from_pts_for_mem_enc": True}
    with pytest.raises(ValueError, match="unknown hydra override '\\+\\+model.warp_speed=9'"):
        parse_hydra_overrides(["++model.warp_speed=9"])
    with pytest.raises(ValueError, match="has no '='"):
        parse_hydra_overrides(["++model.fill_hole_area"])
    model = masklet.build_sam2("sam2.1-tiny", hydra_overrides_extra=["++model.fill_hole_area=3"], device="cpu")
    assert not hasattr(model.cfg, "fill_hole_area")  # a tracker option: an image model has no tracker
    # Tracker options reach the video predictor, as keywords or as the official overrides.
    video = masklet.build_sam2_video_predictor(
        "sam2.1-tiny", device="cpu", hydra_overrides_extra=["++model.fill_hole_area=3", "++model.non_overlap_masks=true"]
    )
    assert video.fill_hole_area == 3 and video.non_overlap_masks and video.predictor.options.non_overlap_masks
    assert masklet.build_sam2_video_predictor("sam2.1-tiny", device="cpu").fill_hole_area == 8  # the official default


def test_predict_shapes_and_dtypes(predictor, truck) -> None:
    masks, scores, low_res = predictor.predict(point_coords=POINT, point_labels=LABEL)
    assert masks.shape == (3, *truck.shape[:2]) and masks.dtype == np.float32
    assert set(np.unique(masks)) <= {0.0, 1.0}
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert low_res.shape == (3, 256, 256) and low_res.dtype == np.float32
    assert np.abs(low_res).max() <= 32.0
    masks, scores, _ = predictor.predict(box=np.array([[0, 0, 900, 600], [900, 600, 1800, 1200]]), multimask_output=False)
    assert masks.shape == (2, 1, *truck.shape[:2]) and scores.shape == (2, 1)


def test_logits_threshold_to_the_masks(predictor) -> None:
    masks, _, _ = predictor.predict(point_coords=POINT, point_labels=LABEL)
    logits, _, _ = predictor.predict(point_coords=POINT, point_labels=LABEL, return_logits=True)
    assert np.array_equal(logits > 0, masks > 0)


def test_normalized_coords_give_the_same_answer(predictor, truck) -> None:
    h, w = truck.shape[:2]
    a = predictor.predict(point_coords=POINT, point_labels=LABEL)[1]
    b = predictor.predict(point_coords=POINT / np.array([w, h]), point_labels=LABEL, normalize_coords=False)[1]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_pil_image_and_embedding(tiny_model, truck, predictor) -> None:
    p = masklet.SAM2ImagePredictor(tiny_model)
    p.set_image(Image.fromarray(truck))
    assert p._orig_hw == [truck.shape[:2]]
    emb = p.get_image_embedding()
    assert emb.shape == (1, 256, 64, 64)
    torch.testing.assert_close(emb, predictor.get_image_embedding())


def test_batch_equals_one_by_one(tiny_model, truck, groceries, predictor) -> None:
    p = masklet.SAM2ImagePredictor(tiny_model)
    p.set_image_batch([truck, groceries])
    masks, scores, low_res = p.predict_batch([POINT, np.array([[600, 400]])], [LABEL, LABEL])
    assert len(masks) == 2 and masks[1].shape == (3, *groceries.shape[:2])
    single = predictor.predict(point_coords=POINT, point_labels=LABEL)
    np.testing.assert_allclose(scores[0], single[1], atol=1e-4)
    with pytest.raises(RuntimeError, match="predict_batch"):
        p.predict(point_coords=POINT, point_labels=LABEL)
    with pytest.raises(ValueError, match="one entry per image"):
        p.predict_batch([POINT], [LABEL])


def test_errors_are_clear(tiny_model, predictor) -> None:
    fresh = masklet.SAM2ImagePredictor(tiny_model)
    with pytest.raises(RuntimeError, match="set_image"):
        fresh.predict(point_coords=POINT, point_labels=LABEL)
    with pytest.raises(RuntimeError, match="set_image"):
        fresh.get_image_embedding()
    with pytest.raises(ValueError, match="without point_labels"):
        predictor.predict(point_coords=POINT)
    with pytest.raises(ValueError, match="one label per point"):
        predictor.predict(point_coords=POINT, point_labels=np.array([1, 0]))
    with pytest.raises(ValueError, match="box must have shape"):
        predictor.predict(box=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="mask_input must have shape"):
        predictor.predict(mask_input=np.zeros((1, 64, 64)))
    with pytest.raises(ValueError, match="point_labels must be"):
        predictor.predict(point_coords=POINT, point_labels=np.array([7]))
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        fresh.set_image(np.zeros((10, 10), dtype=np.uint8))


def test_reset_predictor(tiny_model, truck) -> None:
    p = masklet.SAM2ImagePredictor(tiny_model)
    p.set_image(truck)
    p.reset_predictor()
    assert not p._is_image_set and p._features is None


def test_hole_and_sprinkle_removal_changes_only_small_regions(tiny_model, truck) -> None:
    plain = masklet.SAM2ImagePredictor(tiny_model)
    cleaned = masklet.SAM2ImagePredictor(tiny_model, max_hole_area=50.0, max_sprinkle_area=50.0)
    for p in (plain, cleaned):
        p.set_image(truck)
    a, _, _ = plain.predict(point_coords=POINT, point_labels=LABEL, return_logits=True)
    b, _, _ = cleaned.predict(point_coords=POINT, point_labels=LABEL, return_logits=True)
    changed = (a > 0) != (b > 0)
    # Areas are in low-res (256x256) pixels; at 1800x1200 one is about 33 image pixels.
    assert changed.mean() < 0.05
    from masklet.inference.connected_components import connected_components

    low = torch.from_numpy(plain.predict(point_coords=POINT, point_labels=LABEL)[2])[:, None]
    _, areas = connected_components(low > 0)
    if ((areas > 0) & (areas <= 50)).any():
        assert changed.any()
