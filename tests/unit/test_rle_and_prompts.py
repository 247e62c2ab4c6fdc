"""COCO RLE against pycocotools, output folders that appear only when complete, and the
text forms of prompts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from masklet.masks_io import OUTPUT_MARK, label_map, output_folder, read_mask_png, save_label_png
from masklet.prompts import load_prompts_file, parse_point, prompts_from_args, split_target
from masklet.rle import rle_decode, rle_encode


def test_rle_matches_pycocotools_both_ways(truck: np.ndarray) -> None:
    coco = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    masks = [rng.random((37, 53)) < p for p in (0.0, 0.1, 0.5, 0.9, 1.0)]
    masks.append(truck[..., 0] > 128)  # a real photo's large irregular mask
    masks.append(np.zeros((1, 1), bool))
    for mask in masks:
        ours = rle_encode(mask)
        theirs = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ours["counts"] == theirs["counts"].decode() and ours["size"] == list(theirs["size"])
        assert np.array_equal(rle_decode(ours), mask)
        assert np.array_equal(coco.decode({"size": ours["size"], "counts": ours["counts"].encode()}).astype(bool), mask)
    assert np.array_equal(rle_decode({"size": [2, 2], "counts": [1, 2, 1]}), np.array([[0, 1], [1, 0]], bool))
    with pytest.raises(ValueError, match="cover 5 pixels"):
        rle_decode({"size": [2, 2], "counts": [1, 2, 2]})


def test_output_folder_replaces_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "masks"
    with output_folder(out) as tmp:
        save_label_png(label_map([1, 2], np.stack([np.eye(4, dtype=bool), np.fliplr(np.eye(4, dtype=bool))])), tmp / "00000.png")
        assert not out.exists()  # not there until complete
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARK, "00000.png"]  # the mark: masklet wrote it
    assert set(np.unique(np.asarray(__import__("PIL.Image").Image.open(out / "00000.png")))) == {0, 1, 2}
    with pytest.raises(RuntimeError):
        with output_folder(out) as tmp:
            (tmp / "00000.png").write_bytes(b"half")
            raise RuntimeError("failed half-way")
    assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARK, "00000.png"] and (out / "00000.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["masks"]  # no leftovers


def test_finished_outputs_get_ordinary_permissions(tmp_path: Path) -> None:
    """Temporary files and folders are private; the finished ones get the umask's mode."""
    from masklet.atomic import atomic_path

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("{}")
            assert tmp.stat().st_mode & 0o777 == 0o600
        with output_folder(tmp_path / "masks") as folder:
            (folder / "00000.png").write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "masks").stat().st_mode & 0o777 == 0o755


def test_label_map_and_mask_png(tmp_path: Path) -> None:
    a = np.zeros((4, 5), bool)
    a[:2] = True
    b = np.zeros((4, 5), bool)
    b[1:3] = True
    labels = label_map([3, 7], np.stack([a, b]))
    assert labels[0, 0] == 3 and labels[1, 0] == 7 and labels[3, 0] == 0  # later objects win overlaps
    save_label_png(labels, tmp_path / "l.png")
    assert np.array_equal(read_mask_png(tmp_path / "l.png", 7), labels == 7)
    assert np.array_equal(read_mask_png(tmp_path / "l.png"), labels > 0)
    with pytest.raises(ValueError, match="1..255"):
        label_map([300], a[None])


def test_prompt_text_forms(tmp_path: Path) -> None:
    assert parse_point("640,400") == (640.0, 400.0, 1) and parse_point("1,2,0") == (1.0, 2.0, 0)
    for bad in ("640", "1,2,3,4", "a,b", "1,2,5"):
        with pytest.raises(ValueError):
            parse_point(bad)
    assert split_target("2@30:640,400", 1, 0) == (2, 30, "640,400")
    assert split_target("@30:640,400", 4, 0) == (4, 30, "640,400")
    assert split_target("640,400", 4, 9) == (4, 9, "640,400")
    prompts = prompts_from_args(("10,20", "30,40,0", "2:50,60"), ("2@5:1,2,30,40",), (), obj_id=1, frame=0)
    assert [(p.obj_id, p.frame, p.points, p.labels, p.box) for p in prompts] == [
        (1, 0, [(10.0, 20.0), (30.0, 40.0)], [1, 0], None),
        (2, 0, [(50.0, 60.0)], [1], None),
        (2, 5, [], [], (1.0, 2.0, 30.0, 40.0)),
    ]
    f = tmp_path / "p.json"
    f.write_text('[{"frame": 3, "obj_id": 2, "points": [[1, 2]], "labels": [0]}, {"box": [0, 0, 5, 5]}]')
    loaded = load_prompts_file(f)
    assert (loaded[0].frame, loaded[0].obj_id, loaded[0].labels, loaded[1].box) == (3, 2, [0], (0.0, 0.0, 5.0, 5.0))
    f.write_text('[{"frame": 3, "pts": []}]')
    with pytest.raises(ValueError, match="unknown keys"):
        load_prompts_file(f)
    f.write_text('[{"points": [[1, 2]], "labels": [1, 1]}]')
    with pytest.raises(ValueError, match="one label"):
        load_prompts_file(f)


def test_rle_decode_checks_the_size_first_and_refuses_malformed_counts() -> None:
    with pytest.raises(ValueError, match="mask is 40000x40000, the frame 960x540"):
        rle_decode({"size": [40000, 40000], "counts": [0, 1_600_000_000]}, shape=(540, 960))
    good = rle_encode(np.eye(5, dtype=bool))
    assert np.array_equal(rle_decode(good, shape=(5, 5)), np.eye(5, dtype=bool))
    for bad in ({"size": [5, 5], "counts": "!!"}, {"size": [5, 5], "counts": "é"}, {"size": [5, 5], "counts": [1, "a"]},
                {"size": [5, 5], "counts": None}, {"size": [5, 5], "counts": 3}, {"size": [5, 5], "counts": [2**70]},
                {"size": [5, 5], "counts": [True]}, {"size": [5, 5.5], "counts": [25]}, {"size": "ab", "counts": [1]},
                {"counts": [1]}, [1, 2], {"size": [5, 5], "counts": "PPPP"}):
        with pytest.raises(ValueError):
            rle_decode(bad)


def test_prompts_are_checked_against_the_frame() -> None:
    from masklet.errors import LimitError
    from masklet.prompts import Prompt

    Prompt(points=[(1.0, 1.0)] * 1000, labels=[1] * 1000).check(1, 100, 100)
    with pytest.raises(LimitError, match="1001 points; the limit is 1000"):
        Prompt(points=[(1.0, 1.0)] * 1001, labels=[1] * 1001).check(1, 100, 100)
    for box in ((0, 0, float("inf"), 5), (0, float("nan"), 5, 5), (200, 200, 300, 300), (-9, -9, -1, -1)):
        with pytest.raises(ValueError, match="box"):
            Prompt(box=box).check(1, 100, 100)
    Prompt(box=(-10, -10, 50, 50)).check(1, 100, 100)  # partly outside: kept as given
    with pytest.raises(ValueError, match="mask is 20x10, the video 100x50"):
        Prompt(mask=np.ones((10, 20), bool)).check(1, 50, 100)
