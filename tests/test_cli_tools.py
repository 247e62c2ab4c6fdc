"""`masklet segment`, `masklet track` and `masklet models` on the shared photos and clips:
the files they write, and their error paths with exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masklet.rle import rle_decode


def masklet(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory, shared_data: Path) -> Path:
    """The first 8 frames of the shared bedroom clip as a JPEG folder."""
    folder = tmp_path_factory.mktemp("clip") / "bedroom8"
    folder.mkdir()
    for i in range(8):
        shutil.copy(shared_data / "videos" / "bedroom" / f"{i:05d}.jpg", folder / f"{i:05d}.jpg")
    return folder


def test_segment_writes_the_mask_overlay_and_candidates(tmp_path: Path, shared_data: Path) -> None:
    truck = shared_data / "images" / "truck.jpg"
    r = masklet("segment", str(truck), "--point", "900,700", "--point", "300,300,0", "-o", str(tmp_path / "m.png"),
                "--overlay", str(tmp_path / "o.jpg"))
    assert r.returncode == 0, r.stderr
    mask = np.asarray(Image.open(tmp_path / "m.png"))
    assert mask.shape == (1200, 1800) and set(np.unique(mask)) <= {0, 255}
    overlay = Image.open(tmp_path / "o.jpg")
    assert overlay.size == (1800, 1200) and overlay.format == "JPEG"
    r = masklet("segment", str(truck), "--box", "80,200,1700,1100", "--multimask", "-o", str(tmp_path / "c.png"))
    assert r.returncode == 0, r.stderr
    scores = [float(line.split("score ")[1].split(",")[0]) for line in r.stdout.splitlines()]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)  # NAME-0 is the best
    assert all((tmp_path / f"c-{k}.png").is_file() for k in range(3))


def test_track_writes_davis_pngs_rle_and_overlay(tmp_path: Path, short_clip: Path) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 3, "obj_id": 3, "box": [500, 200, 900, 500]}]))
    r = masklet("track", str(short_clip), "--point", "300,250", "--point", "2:700,350", "--prompts", str(prompts),
                "--both", "-o", str(tmp_path / "masks"), "--rle", str(tmp_path / "rle.json"), "--overlay", str(tmp_path / "o.mp4"), "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""  # -q: quiet
    pngs = sorted((tmp_path / "masks").glob("*.png"))
    assert [p.name for p in pngs] == [f"{t:05d}.png" for t in range(8)]
    doc = json.loads((tmp_path / "rle.json").read_text())
    assert doc["size"] == [540, 960] and doc["obj_ids"] == [1, 2, 3]
    assert [f["frame"] for f in doc["frames"]] == list(range(8))
    for entry, png in zip(doc["frames"], pngs):
        image = Image.open(png)
        assert image.mode == "P" and image.getpalette()[3:6] == [128, 0, 0]  # DAVIS palette: object 1 is dark red
        labels = np.asarray(image)
        assert set(np.unique(labels)) <= {0, 1, 2, 3}
        decoded = {int(k): rle_decode(v) for k, v in entry["masks"].items()}
        expected = np.zeros_like(labels)
        for obj_id in (1, 2, 3):
            expected[decoded[obj_id]] = obj_id
        assert np.array_equal(labels, expected)  # the RLE decodes to the PNG's masks
    import av

    with av.open(str(tmp_path / "o.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (540, 960, 3)


def test_track_forward_from_a_later_frame_with_max_frames(tmp_path: Path, shared_data: Path) -> None:
    r = masklet("track", str(shared_data / "videos" / "01_dog.mp4"), "--frame", "5", "--point", "600,450", "--max-frames", "3",
                "-o", str(tmp_path / "m"), "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "m").glob("*.png")) == [f"{t:05d}.png" for t in range(5, 9)]
    r = masklet("track", str(shared_data / "videos" / "01_dog.mp4"), "--frame", "5", "--point", "600,450", "--reverse",
                "-o", str(tmp_path / "r"), "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "r").glob("*.png")) == [f"{t:05d}.png" for t in range(0, 6)]


def test_error_paths_have_exit_codes_and_one_line_messages(tmp_path: Path, short_clip: Path, shared_data: Path) -> None:
    truck = str(shared_data / "images" / "truck.jpg")
    cases = [
        (("segment", str(tmp_path / "missing.jpg"), "--point", "1,2"), 2, "does not exist"),
        (("segment", truck, "--point", "12;40"), 2, "X,Y or X,Y,LABEL"),
        (("segment", truck, "--point", "5000,10"), 2, "outside the 1800x1200 image"),
        (("segment", truck), 2, "at least one --point"),
        (("track", str(short_clip), "--frame", "99", "--point", "10,10", "-o", str(tmp_path / "x")), 2, "frame 99 out of range"),
        (("track", str(short_clip), "--point", "10,10"), 2, "nothing to write"),
        (("track", str(short_clip), "--box", "10,10,5", "-o", str(tmp_path / "x")), 2, "X1,Y1,X2,Y2"),
        (("track", str(short_clip), "--point", "1,1", "--model", "sam9", "-o", str(tmp_path / "x")), 2, "unknown model config"),
    ]
    for args, code, message in cases:
        r = masklet(*args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    r = masklet("track", str(broken), "--point", "1,1", "-o", str(tmp_path / "x"))
    assert r.returncode == 2 and r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_only_masklet_s_own_errors_exit_2_anything_else_1(tmp_path: Path, short_clip: Path, monkeypatch) -> None:
    """An internal failure (here a forced out-of-memory in the model) is exit 1 in one line,
    never mistaken for the user's error."""
    from click.testing import CliRunner

    import masklet.build
    from masklet.cli import main

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(more lines of detail)")

    monkeypatch.setattr(masklet.build, "load_model", out_of_memory)  # what the torch backend loads with
    r = CliRunner().invoke(main, ["track", str(short_clip), "--point", "10,10", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "RuntimeError: CUDA out of memory" in r.output and "more lines" not in r.output
    monkeypatch.setattr(masklet.build, "load_model", lambda *a, **k: (_ for _ in ()).throw(KeyError("internal")))
    r = CliRunner().invoke(main, ["track", str(short_clip), "--point", "10,10", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "KeyError" in r.output  # not an unknown-object exit 2


def test_a_failed_run_leaves_the_earlier_output_intact(tmp_path: Path, short_clip: Path) -> None:
    out = tmp_path / "masks"
    assert masklet("track", str(short_clip), "--point", "300,250", "-o", str(out), "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = masklet("track", str(short_clip), "--point", "300,250", "--checkpoint", str(tmp_path / "nope.pt"), "-o", str(out), "-q")
    assert r.returncode == 2 and "nope.pt" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers


def test_models_lists_presets_and_the_cache(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "MASKLET_CACHE": str(tmp_path)}
    fake = tmp_path / "sam2.1_hiera_tiny.pt"
    fake.write_bytes(b"x")
    r = subprocess.run([sys.executable, "-m", "masklet", "models"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:11]}
    assert rows["masklet-nano"][1:4] == ["3.3M", "13", "MB"] and rows["masklet-nano"][4] == "packaged"
    assert rows["sam2.1_hiera_t"][1] == "39.0M" and rows["sam2.1_hiera_t"][4] == "cached"
    assert rows["sam2.1_hiera_l"][1] == "224.4M" and rows["sam2.1_hiera_l"][4] == "download"
    assert rows["edgetam"][1] == "13.9M" and rows["edgetam"][4] == "download"
    r = subprocess.run([sys.executable, "-m", "masklet", "models", "download", "nano"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "ships inside the package" in r.stdout
    for command in (["segment"], ["track"], ["models"], ["models", "download"], ["serve"]):
        r = masklet(*command, "--help")
        assert r.returncode == 0 and "Usage:" in r.stdout


def test_generate_object_counts(tmp_path: Path, shared_data: Path) -> None:
    r = masklet("generate", str(tmp_path / "d"), "-n", "2", "--frames", "3", "--size", "96x64", "--objects", "3-3",
                "--distractors", "0", "--data-root", str(shared_data))
    assert r.returncode == 0, r.stderr
    for seq in sorted((tmp_path / "d" / "Annotations").iterdir()):
        ids = set().union(*(np.unique(np.asarray(Image.open(p))) for p in seq.glob("*.png")))
        assert ids <= {0, 1, 2, 3} and 3 in ids
    r = masklet("generate", str(tmp_path / "e"), "--objects", "3-1")
    assert r.returncode == 2 and "MIN-MAX" in r.stderr
    # Clutter is drawn into the frames but never labelled.
    r = masklet("generate", str(tmp_path / "c"), "-n", "2", "--frames", "3", "--size", "96x64", "--objects", "1-1",
                "--distractors", "0", "--clutter", "4", "--data-root", str(shared_data))
    assert r.returncode == 0, r.stderr
    for seq in sorted((tmp_path / "c" / "Annotations").iterdir()):
        assert set().union(*(np.unique(np.asarray(Image.open(p))) for p in seq.glob("*.png"))) <= {0, 1}
    assert masklet("generate", str(tmp_path / "f"), "--clutter", "-1").returncode == 2
