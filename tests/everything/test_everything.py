"""Segment everything and track everything, end to end on masklet-nano: the automatic
masks of an image as COCO RLE or a label map, and a generated clip whose objects are
known: those visible on the first frame are found and tracked, and one that enters
later is picked up with --reseed (the reference cannot add objects once tracking has
started)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from masklet.inference.boxes import box_iou, box_nms, masks_to_boxes
from masklet.rle import mask_runs, rle_decode, runs_to_mask

# Thresholds masklet-nano's automatic masks pass on this clip (its predicted IoUs peak ~0.85).
NANO_GENERATOR = ["--points-per-side", "16", "--pred-iou-thresh", "0.5", "--stability-score-thresh", "0.8"]


def masklet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True)


def known_clip(folder: Path, frames: int = 8, w: int = 320, h: int = 192) -> list[dict[int, np.ndarray]]:
    """A red disc and a blue square moving on a plain background from frame 0; a green disc
    appearing on frame 4. Returns each frame's true masks by object."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    objects = [("disc", (200, 30, 30), 70, 2, 70, 34, 0), ("square", (30, 50, 200), 200, -2, 120, 36, 0),
               ("disc", (30, 160, 40), 260, 0, 45, 26, 4)]
    truth = []
    for t in range(frames):
        image = Image.fromarray((200 + rng.integers(-6, 6, (h, w, 3))).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        masks = {}
        for k, (shape, colour, x, vx, y, r, t0) in enumerate(objects, start=1):
            if t < t0:
                continue
            box = [x + vx * t - r, y - r, x + vx * t + r, y + r]
            mask = Image.new("L", (w, h))
            (ImageDraw.Draw(mask).ellipse if shape == "disc" else ImageDraw.Draw(mask).rectangle)(box, fill=255)
            (draw.ellipse if shape == "disc" else draw.rectangle)(box, fill=colour)
            masks[k] = np.asarray(mask) > 0
        image.save(folder / f"{t:05d}.jpg", quality=95)
        truth.append(masks)
    return truth


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def test_track_everything_finds_tracks_and_picks_up_a_newcomer(tmp_path: Path) -> None:
    truth = known_clip(tmp_path / "clip")
    tracked = {}  # run -> frame -> {obj_id: mask}
    for name, extra in (("plain", []), ("reseed", ["--reseed", "2"])):
        r = masklet("track", str(tmp_path / "clip"), "--all", *NANO_GENERATOR, "--min-area", "500", "--max-objects", "10",
                    *extra, "-o", str(tmp_path / name), "--rle", str(tmp_path / f"{name}.json"))
        assert r.returncode == 0, r.stderr
        assert "frame 0:" in r.stderr
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        tracked[name] = {f["frame"]: {int(i): rle_decode(m) for i, m in f["masks"].items()} for f in doc["frames"]}
        assert sorted(tracked[name]) == list(range(8))
    plain, reseed = tracked["plain"], tracked["reseed"]
    # Every object visible on frame 0 is found there, as an object of its own ...
    found = {}
    for k, mask in truth[0].items():
        scores = {obj: iou(m, mask) for obj, m in plain[0].items()}
        found[k] = max(scores, key=scores.get)
        assert scores[found[k]] >= 0.6, (k, scores)
    # ... and tracked: its object has a mask on every frame; the square's is still on it at the end.
    for k, obj in found.items():
        assert all(plain[t][obj].any() for t in range(8)), k
    assert iou(plain[7][found[2]], truth[7][2]) >= 0.5
    # The disc entering on frame 4: without --reseed no object is added after frame 0;
    # with --reseed 2, one is made for it on frame 4 (new ids join on frames 2, 4 and 6).
    assert all(set(plain[t]) == set(plain[0]) for t in range(8))
    new_on_4 = set(reseed[4]) - set(reseed[3])
    assert new_on_4 and max(iou(reseed[4][obj], truth[4][3]) for obj in new_on_4) >= 0.6


def test_segment_all_writes_coco_rle_or_a_label_map(tmp_path: Path, shared_data: Path) -> None:
    truck = shared_data / "images" / "truck.jpg"
    r = masklet("segment", str(truck), "--all", "--points-per-side", "8", "--pred-iou-thresh", "0.3",
                "--stability-score-thresh", "0.5", "-o", str(tmp_path / "masks.json"), "--overlay", str(tmp_path / "all.png"))
    assert r.returncode == 0, r.stderr
    records = json.loads((tmp_path / "masks.json").read_text())
    assert len(records) >= 3 and set(records[0]) == {"segmentation", "area", "bbox", "predicted_iou", "point_coords",
                                                      "stability_score", "crop_box"}
    masks = [rle_decode(rec["segmentation"]) for rec in records]
    assert all(m.shape == (1200, 1800) and m.sum() == rec["area"] for m, rec in zip(masks, records))
    assert all(rec["predicted_iou"] > 0.3 and rec["stability_score"] >= 0.5 for rec in records)
    r = masklet("segment", str(truck), "--all", "--points-per-side", "8", "--pred-iou-thresh", "0.3",
                "--stability-score-thresh", "0.5", "-o", str(tmp_path / "labels.png"), "-q")
    assert r.returncode == 0 and r.stdout == ""
    labels = np.asarray(Image.open(tmp_path / "labels.png"))
    assert labels.shape == (1200, 1800) and len(np.unique(labels)) - 1 <= len(records)
    # Largest drawn first: the smallest mask is whole in the label map.
    smallest = int(np.argmin([m.sum() for m in masks]))
    assert (labels[masks[smallest]] == smallest + 1).all()
    r = masklet("segment", str(truck), "--all", "--point", "5,5", "-o", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "--all" in r.stderr


def test_box_nms_is_greedy_nms() -> None:
    """The batched fixed point equals the one-box-at-a-time greedy algorithm."""
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        xy = torch.rand(60, 2, generator=g) * 100
        boxes = torch.cat([xy, xy + 5 + torch.rand(60, 2, generator=g) * 40], dim=1)
        scores = torch.rand(60, generator=g).round(decimals=1)  # ties too
        order = torch.sort(scores, descending=True, stable=True).indices.tolist()
        kept: list[int] = []
        for i in order:
            if all(box_iou(boxes[i : i + 1], boxes[j : j + 1]).item() <= 0.4 for j in kept):
                kept.append(i)
        assert box_nms(boxes, scores, 0.4).tolist() == kept


def test_boxes_and_runs_of_masks() -> None:
    masks = torch.zeros(3, 5, 7, dtype=torch.bool)
    masks[0, 1:3, 2:6] = True
    masks[2, 0, 0] = masks[2, 4, 6] = True
    assert masks_to_boxes(masks).tolist() == [[2, 1, 5, 2], [0, 0, 0, 0], [0, 0, 6, 4]]
    for m, runs in zip(masks, mask_runs(masks)):
        assert np.array_equal(runs_to_mask(runs, 5, 7), m.numpy()) and runs.sum() == 35
    assert mask_runs(masks)[2][0] == 0  # starts with a foreground pixel: a zero-length run first


def test_the_service_segments_everything_on_a_frame(serve, tmp_path: Path) -> None:
    import httpx

    truth = known_clip(tmp_path / "clip")
    base = serve(data_root=tmp_path)
    with httpx.Client(base_url=base, timeout=120) as client:
        sid = client.post("/api/sessions", data={"path": "clip"}).json()["session_id"]
        body = {"frame": 0, "pred_iou_thresh": 0.5, "stability_score_thresh": 0.8, "min_area": 500, "max_objects": 10}
        r = client.post(f"/api/sessions/{sid}/everything", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["added"] and [m["obj_id"] for m in out["masks"]] == out["added"]
        masks = {m["obj_id"]: rle_decode(m["rle"]) for m in out["masks"]}
        for k, mask in truth[0].items():
            assert max(iou(m, mask) for m in masks.values()) >= 0.6
        # Again on the same frame: what the objects cover already is not added twice.
        again = client.post(f"/api/sessions/{sid}/everything", json=body).json()
        assert len(again["added"]) < len(out["added"])
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"max_frames": 2}) as r:
            assert sum(1 for line in r.iter_lines() if line == "event: frame") == 3
        client.delete(f"/api/sessions/{sid}")


@pytest.mark.parametrize("config", ["edgetam", "sam2_hiera_t", "masklet-nano"])
def test_every_preset_generates_consistent_records(config: str, standin_checkpoint, shared_data: Path) -> None:
    """The generator over EdgeTAM, SAM 2 and nano: records as the official ones are (areas
    equal the masks', XYWH boxes enclose them, clicks inside the crop), ordered masks
    distinct after NMS, and from_pretrained gives the packaged model's answers."""
    import masklet

    image = np.asarray(Image.open(shared_data / "images" / "groceries.jpg").convert("RGB"))
    settings = dict(points_per_side=4, pred_iou_thresh=0.01, stability_score_thresh=0.01, box_nms_thresh=0.9)
    if config == "masklet-nano":
        generator = masklet.SAM2AutomaticMaskGenerator.from_pretrained("masklet-nano", **settings)
        again = masklet.SAM2AutomaticMaskGenerator(masklet.build_sam2("masklet-nano"), **settings).generate(image)
    else:
        generator = masklet.SAM2AutomaticMaskGenerator(masklet.build_sam2(config, standin_checkpoint(config)), **settings)
        again = None
    records = generator.generate(image)
    assert records, config
    for r in records:
        mask = r["segmentation"]
        assert mask.shape == image.shape[:2] and mask.sum() == r["area"] > 0
        ys, xs = np.nonzero(mask)
        assert r["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
        assert 0 < r["predicted_iou"] and 0.01 <= r["stability_score"] <= 1.0
    boxes = torch.tensor([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (r["bbox"] for r in records)], dtype=torch.float32)
    overlap = box_iou(boxes, boxes) - torch.eye(len(records))
    assert (overlap <= 0.9 + 1e-6).all()  # NMS left no pair above its threshold
    if again is not None:
        assert [r["area"] for r in again] == [r["area"] for r in records]
