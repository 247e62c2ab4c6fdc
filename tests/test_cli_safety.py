"""The command line never destroys data it did not write: outputs onto the input or onto
folders of other files are refused (exit 2, a sentence saying why and what to do), and
careless input (a missing or wrong-sized mask, an image too large to decode) gets one
line, not a traceback or a silently stretched result."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masklet.masks_io import OUTPUT_MARK


def masklet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True)


@pytest.fixture()
def frames(tmp_path: Path, shared_data: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        shutil.copy(shared_data / "videos" / "bedroom" / f"{i:05d}.jpg", folder / f"{i:05d}.jpg")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_input_is_never_written_over(frames: Path, tmp_path: Path, shared_data: Path) -> None:
    before = snapshot(frames)
    for out in (frames, frames / "masks", tmp_path):  # the input itself, inside it, a folder holding it
        r = masklet("track", str(frames), "--point", "480,270", "-o", str(out), "--force")
        assert r.returncode == 2 and "input" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = masklet("track", str(frames), "--point", "480,270", "--overlay", str(frames / "00000.jpg"))
    assert r.returncode == 2 and "input" in r.stderr
    assert snapshot(frames) == before
    truck = tmp_path / "truck.jpg"
    shutil.copy(shared_data / "images" / "truck.jpg", truck)
    r = masklet("segment", str(truck), "--point", "900,700", "-o", str(truck))
    assert r.returncode == 2 and "input" in r.stderr
    assert truck.read_bytes() == (shared_data / "images" / "truck.jpg").read_bytes()


def test_only_an_empty_or_masklet_folder_is_replaced_without_force(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = masklet("track", str(frames), "--point", "480,270", "-o", str(out), "-q")
    assert r.returncode == 2 and "notes.txt" in r.stderr and "--force" in r.stderr
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    # An empty folder is fine, and what masklet wrote is marked, so a re-run replaces it.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert masklet("track", str(frames), "--point", "480,270", "-o", str(empty), "-q").returncode == 0
    assert (empty / OUTPUT_MARK).is_file() and len(list(empty.glob("*.png"))) == 3
    r = masklet("track", str(frames), "--point", "480,270", "--max-frames", "1", "-o", str(empty), "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in empty.glob("*.png")) == ["00000.png", "00001.png"]
    # --force replaces a folder of other files.
    r = masklet("track", str(frames), "--point", "480,270", "-o", str(out), "--force", "-q")
    assert r.returncode == 0 and not (out / "notes.txt").exists() and len(list(out.glob("*.png"))) == 3


def test_mask_prompts_missing_or_of_the_wrong_size(frames: Path, tmp_path: Path) -> None:
    r = masklet("track", str(frames), "--mask", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "nope.png" in r.stderr and "Traceback" not in r.stderr
    small = tmp_path / "small.png"
    Image.fromarray(np.full((100, 200), 255, np.uint8)).save(small)
    r = masklet("track", str(frames), "--mask", str(small), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "200x100" in r.stderr and "960x540" in r.stderr
    assert not (tmp_path / "o").exists()


def test_an_image_too_large_to_decode_is_one_line(tmp_path: Path, png_bomb) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png_bomb(20000, 20000))
    r = masklet("segment", str(big), "--point", "10,10", "-o", str(tmp_path / "m.png"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "big.png" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.png").exists()
