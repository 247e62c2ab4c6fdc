"""masklet-nano tracking speed on a 640x360 clip: is it interactive on a laptop CPU?

    .venv/bin/python bench/nano_speed.py [--frames 120] [--objects 1 3] [--threads N] [--checkpoint W ...]

The shared clip videos/01_dog.mp4 (1280x720) is scaled to 640x360 and written as an MP4
first; then, per object count, masklet-nano (packaged weights) opens it, gets one click
per object on frame 0 and propagates through every frame. Frames/s counts the whole
propagation: decoding, resizing, image encoder, memory attention, decoder, memory encoder.
Further weights (`--checkpoint`, e.g. earlier or retrained ones) run in the same session,
after the packaged ones, for a side-by-side figure on the same machine.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import masklet
from masklet.inference.video_io import open_video
from masklet.overlay import VideoWriter

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "videos" / "01_dog.mp4"
CLICKS = [(300, 225), (160, 180), (210, 260)]  # on the 640x360 frame: the dog, the woman, her jeans


def scaled_clip(dest: Path, frames: int, size: tuple[int, int] = (640, 360)) -> Path:
    from PIL import Image

    source = open_video(CLIP)
    with VideoWriter(dest, fps=source.fps) as video:
        for i in range(min(frames, source.num_frames)):
            video.write(np.asarray(Image.fromarray(source.frame(i)).resize(size, Image.Resampling.BILINEAR)))
    return dest


def run(video: Path, num_objects: int, checkpoint: str | None = None) -> dict[str, float]:
    predictor = masklet.build_sam2_video_predictor("masklet-nano", checkpoint, device="cpu")
    start = time.perf_counter()
    state = predictor.init_state(str(video))
    opened = time.perf_counter() - start
    start = time.perf_counter()
    for obj_id, (x, y) in enumerate(CLICKS[:num_objects], start=1):
        predictor.add_new_points_or_box(state, 0, obj_id, points=[[x, y]], labels=[1])
    prompt = time.perf_counter() - start
    start = time.perf_counter()
    n = sum(1 for _ in predictor.propagate_in_video(state))
    elapsed = time.perf_counter() - start
    return {"open_s": opened, "prompt_ms": 1000 * prompt / num_objects, "frames": n, "fps": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--checkpoint", action="append", default=[], help="more weights to time after the packaged ones")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        video = scaled_clip(Path(tmp) / "dog_640x360.mp4", args.frames)
        run(video, 1)  # warm-up: first-call allocations and kernel selection
        print(f"masklet-nano on {CLIP.name} scaled to 640x360, {platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads, torch {torch.__version__}")
        print(f"{'weights':<24} {'objects':>7} {'frames':>6} {'frames/s':>9} {'first mask (ms)':>16} {'open (s)':>9}")
        for checkpoint in [None, *args.checkpoint]:
            label = Path(checkpoint).name[:24] if checkpoint else "packaged"
            for k in args.objects:
                r = run(video, k, checkpoint)
                print(f"{label:<24} {k:>7} {r['frames']:>6} {r['fps']:>9.1f} {r['prompt_ms']:>16.0f} {r['open_s']:>9.2f}")


if __name__ == "__main__":
    main()
