"""The README's first command and the examples, on the shared photos and clips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_segment_image_example(standin_checkpoint, shared_data: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "segment_image.py"),
            "--config", "sam2.1_hiera_t", "--checkpoint", str(standin_checkpoint("sam2.1_hiera_t")),
            "--image", str(shared_data / "images" / "truck.jpg"),
            "--point", "500,375", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, check=True,
    )
    assert "best mask" in result.stdout
    mask = np.array(Image.open(tmp_path / "mask.png"))
    assert mask.shape == (1200, 1800) and set(np.unique(mask)) <= {0, 255}
    assert 0 < (mask > 0).mean() < 1
    assert Image.open(tmp_path / "overlay.jpg").size == (1800, 1200)


def test_readme_first_command_tracks_with_the_packaged_nano(shared_data: Path, tmp_path: Path) -> None:
    """The README's first command, after its install step: `masklet track` on a shared clip
    with no model named (the packaged masklet-nano), here over its first 6 frames."""
    readme = (ROOT / "README.md").read_text()
    first = readme.split("```bash\n", 1)[1].split("\n```", 1)[0]
    command = first.split(" && ")[-1].split()
    assert command[:2] == [".venv/bin/masklet", "track"] and "--model" not in command and "--checkpoint" not in command
    args = [a.replace("../shared/data", str(shared_data)).replace("out/", f"{tmp_path}/") for a in command[1:]]
    subprocess.run([sys.executable, "-m", "masklet", *args, "--max-frames", "5", "-q"], cwd=ROOT, check=True)
    pngs = sorted((tmp_path / "dog").glob("*.png"))
    assert [p.name for p in pngs] == [f"{t:05d}.png" for t in range(6)]
    png = Image.open(pngs[0])
    assert png.mode == "P" and png.size == (1280, 720) and set(np.unique(np.array(png))) <= {0, 1}
    with av.open(str(tmp_path / "dog.mp4")) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (720, 1280, 3)


def test_segment_image_example_defaults_to_the_packaged_nano(shared_data: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "segment_image.py"), "--image", str(shared_data / "images" / "truck.jpg"),
         "--point", "900,700", "--out", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    assert "best mask" in result.stdout
    mask = np.array(Image.open(tmp_path / "mask.png"))
    assert mask.shape == (1200, 1800) and set(np.unique(mask)) <= {0, 255}
    assert Image.open(tmp_path / "overlay.jpg").size == (1800, 1200)


def test_track_video_example(shared_data: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "track_video.py"), "--checkpoint", "standin",
            "--video", str(shared_data / "videos" / "bedroom.mp4"), "--frame", "0",
            "--point", "300,250", "--point", "700,300", "--max-frames", "2", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, check=True,
    )
    assert result.stdout.count("frame ") == 3
    png = Image.open(tmp_path / "masks" / "00002.png")
    assert png.mode == "P" and png.size == (960, 540)
    assert set(np.unique(np.array(png))) <= {0, 1, 2}
    with av.open(str(tmp_path / "overlay.mp4")) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (540, 960, 3)


def test_stream_video_example(shared_data: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "stream_video.py"), "--checkpoint", "standin", "--max-frames", "3"],
        capture_output=True, text=True, check=True,
    )
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["frame 0", "frame 1", "frame 2"]
