"""Streaming: frames pushed one at a time (here decoded from a file), a mask per frame.

    python examples/stream_video.py --checkpoint sam2.1_hiera_tiny.pt \
        --video ../shared/data/videos/01_dog.mp4 --point 640,400 --max-frames 50

The same loop serves a camera or a pipe: memory stays bounded by the memory window,
however long the stream. `--checkpoint standin` runs on untrained stand-in weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av

import masklet

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="sam2.1_hiera_t")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--video", default=str(ROOT.parent / "shared" / "data" / "videos" / "01_dog.mp4"))
    parser.add_argument("--point", default="640,400", help="x,y of a positive click on the first frame")
    parser.add_argument("--max-frames", type=int, default=50)
    args = parser.parse_args(argv)

    model = masklet.build_model(args.config, args.checkpoint)
    stream = masklet.VideoStream(model)
    x, y = (float(v) for v in args.point.split(","))
    with av.open(args.video) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= args.max_frames:
                break
            prompts = {1: {"points": [[x, y]], "labels": [1]}} if i == 0 else None
            start = time.perf_counter()
            result = stream.step(frame.to_ndarray(format="rgb24"), prompts)
            area = (result.masks[0, 0] > 0).float().mean().item()
            print(f"frame {result.frame_idx}: object 1 covers {area:.1%} ({time.perf_counter() - start:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
