"""The semi-supervised VOS protocol on a small DAVIS-layout set made from a shared clip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import masklet
from masklet.eval.vos import copy_first_frame_segmenter, evaluate_vos, read_annotation, sam2_segmenter
from masklet.palette import PALETTE


def moving_box(t: int, shape=(135, 240)) -> np.ndarray:
    label = np.zeros(shape, dtype=np.uint8)
    label[40:80, 20 + 10 * t : 60 + 10 * t] = 1  # object 1 moves right 10 px a frame
    label[90:120, 150:200] = 2  # object 2 stays
    return label


@pytest.fixture(scope="module")
def davis(tmp_path_factory, bedroom_frames) -> Path:
    root = tmp_path_factory.mktemp("davis")
    for seq in ("room_a", "room_b"):
        (root / "JPEGImages" / seq).mkdir(parents=True)
        (root / "Annotations" / seq).mkdir(parents=True)
        for t in range(5):
            Image.fromarray(bedroom_frames[t]).save(root / "JPEGImages" / seq / f"{t:05d}.jpg")
            ann = Image.fromarray(moving_box(t), mode="P")
            ann.putpalette(PALETTE)
            ann.save(root / "Annotations" / seq / f"{t:05d}.png")
    return root


def test_oracle_scores_one_and_copy_scores_known_j(davis: Path, tmp_path: Path) -> None:
    def oracle(frames: Path, prompts):
        return [read_annotation(p) for p in sorted((davis / "Annotations" / frames.name).glob("*.png"))]

    perfect = evaluate_vos(davis, oracle, progress=False)
    assert perfect.j == 1.0 and perfect.f == 1.0 and len(perfect.objects) == 4

    copy = evaluate_vos(davis, copy_first_frame_segmenter(), out_dir=tmp_path / "pred", progress=False)
    # Object 1 moved 10, 20, 30 px on the scored frames 1..3: a 40 px wide box overlaps
    # its first position by 30, 20, 10 px, J = overlap / (80 - overlap).
    expected_j1 = np.mean([30 / 50, 20 / 60, 10 / 70])
    by_obj = {o.obj_id: o for o in copy.objects if o.sequence == "room_a"}
    assert by_obj[1].j == pytest.approx(expected_j1)
    assert by_obj[2].j == 1.0 and by_obj[2].f == 1.0
    assert copy.j == pytest.approx((expected_j1 + 1) / 2)
    saved = Image.open(tmp_path / "pred" / "room_b" / "00003.png")
    assert saved.mode == "P" and set(np.unique(np.array(saved))) == {0, 1, 2}

    copy.write_csv(tmp_path / "scores.csv")
    rows = list(csv.reader(open(tmp_path / "scores.csv")))
    assert rows[0] == ["sequence", "object", "J&F", "J", "F"] and rows[-1][0] == "overall"
    assert "overall" in copy.table()


def test_sam2_segmenter_runs_with_and_without_memory(davis: Path, standin_checkpoint) -> None:
    model = masklet.build_model("sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu", image_size=256)
    predictor = masklet.VideoPredictor(model, fill_hole_area=0)
    for memory in (True, False):
        result = evaluate_vos(davis, sam2_segmenter(predictor, memory=memory), sequences=["room_a"], progress=False)
        assert len(result.objects) == 2 and 0.0 <= result.jf <= 1.0


def test_not_a_davis_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="DAVIS layout"):
        evaluate_vos(tmp_path, copy_first_frame_segmenter(), progress=False)
