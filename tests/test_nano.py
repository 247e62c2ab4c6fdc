"""masklet-nano: the packaged default model loads without a path and does real work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import masklet
from masklet.checkpoint import embedded_weights
from masklet.data import GeneratorConfig, write_dataset
from masklet.eval.vos import copy_first_frame_segmenter, evaluate_vos, sam2_segmenter
from masklet.inference.video_predictor import VideoPredictor


@pytest.fixture(scope="module")
def nano() -> masklet.Sam2:
    return masklet.build_sam2(device="cpu")  # no config, no checkpoint: the packaged default


def test_packaged_weights_are_the_default(nano) -> None:
    path = embedded_weights("masklet-nano")
    assert path.stat().st_size <= 20 * 2**20
    assert nano.cfg.name == "masklet-nano"
    weights = load_file(str(path))
    state = nano.state_dict()
    assert weights.keys() == state.keys() and all(torch.equal(weights[k], state[k]) for k in weights)
    video = masklet.build_sam2_video_predictor(device="cpu")
    assert torch.equal(video.model.no_mem_embed, nano.no_mem_embed)
    assert masklet.build_sam2("nano", device="cpu").cfg.name == "masklet-nano"


def test_nano_answers_a_click_on_the_truck(nano, truck: np.ndarray) -> None:
    predictor = masklet.SAM2ImagePredictor(nano)
    predictor.set_image(truck)
    masks, scores, low_res = predictor.predict(point_coords=np.array([[900, 700]]), point_labels=np.array([1]))
    assert masks.shape == (3, 1200, 1800) and scores.shape == (3,) and low_res.shape == (3, 64, 64)
    assert np.isfinite(scores).all() and ((0 <= scores) & (scores <= 1)).all()


def test_nano_tracking_beats_its_memory_off_ablation(tmp_path: Path, shared_data: Path) -> None:
    data = write_dataset(tmp_path / "val", "val", 3, shared_data, GeneratorConfig(num_frames=10))
    predictor = VideoPredictor(masklet.build_model("masklet-nano", "masklet-nano"), fill_hole_area=0)
    tracked = evaluate_vos(data, sam2_segmenter(predictor), progress=False)
    without_memory = evaluate_vos(data, sam2_segmenter(predictor, memory=False), progress=False)
    copy = evaluate_vos(data, copy_first_frame_segmenter(), progress=False)
    print(f"J&F nano {tracked.jf:.3f}, without memory {without_memory.jf:.3f}, copy {copy.jf:.3f}")
    assert tracked.jf > without_memory.jf + 0.05, (tracked.jf, without_memory.jf)
