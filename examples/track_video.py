"""Track objects through a video from clicks on one frame; write masks and an overlay.

    python examples/track_video.py --video ../shared/data/videos/01_dog.mp4 --point 640,400 --out out/

The video is an MP4 or a folder of JPEG frames. Masks go to OUT/masks/NNNNN.png (palette
index = object id) and the overlay video to OUT/overlay.mp4. The model is masklet-nano
(packaged weights) unless --config/--checkpoint name another, e.g.
`--config sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt`; `--checkpoint standin` runs on
deterministic stand-in weights (no download; untrained).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import masklet
from masklet.inference.video_io import open_video
from masklet.overlay import VideoWriter, overlay
from masklet.palette import PALETTE

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="masklet-nano")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file, URL, hub id, or 'standin' (default: packaged nano)")
    parser.add_argument("--video", default=str(ROOT.parent / "shared" / "data" / "videos" / "bedroom.mp4"))
    parser.add_argument("--frame", type=int, default=0, help="the frame the clicks are on")
    parser.add_argument("--point", action="append", default=None, help="x,y of a positive click; one object per --point")
    parser.add_argument("--max-frames", type=int, default=None, help="frames to track after --frame")
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)

    predictor = masklet.build_sam2_video_predictor(args.config, args.checkpoint)
    state = predictor.init_state(args.video)
    for obj_id, point in enumerate(args.point or ["300,250"], start=1):
        x, y = (float(v) for v in point.split(","))
        predictor.add_new_points_or_box(state, args.frame, obj_id, points=[[x, y]], labels=[1])
    out = Path(args.out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    source = open_video(args.video)
    with VideoWriter(out / "overlay.mp4", fps=source.fps or 30.0) as video:
        for frame_idx, obj_ids, masks in predictor.propagate_in_video(state, max_frame_num_to_track=args.max_frames):
            labels = np.zeros(masks.shape[-2:], dtype=np.uint8)
            for obj_id, mask in zip(obj_ids, masks[:, 0].numpy() > 0):
                labels[mask] = obj_id
            png = Image.fromarray(labels, mode="P")
            png.putpalette(PALETTE)
            png.save(out / "masks" / f"{frame_idx:05d}.png")
            video.write(overlay(source.frame(frame_idx), labels))
            print(f"frame {frame_idx}: " + ", ".join(f"object {i} {m.mean():.1%}" for i, m in zip(obj_ids, masks[:, 0].numpy() > 0)))
    print(f"wrote {out / 'masks'} and {out / 'overlay.mp4'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
