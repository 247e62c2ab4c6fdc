"""Segment an object in a photo from one click, and save the mask and an overlay.

    python examples/segment_image.py --image ../shared/data/images/truck.jpg --point 900,700 --out out/

The model is masklet-nano (packaged weights, no download) unless --config/--checkpoint
name another: `--config sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt` (a file, URL or
hub id), or `--checkpoint standin` for deterministic stand-in weights (no download; its
masks show the pipeline works, not what a trained model would segment).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import masklet
from masklet.overlay import overlay

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="masklet-nano", help="model config (official name or alias)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file, URL, hub id, or 'standin' (default: packaged nano)")
    parser.add_argument("--image", default=str(ROOT.parent / "shared" / "data" / "images" / "truck.jpg"))
    parser.add_argument("--point", default="900,700", help="x,y of a positive click in image pixels")
    parser.add_argument("--out", default="out", help="output folder")
    args = parser.parse_args(argv)

    model = masklet.build_sam2(args.config, args.checkpoint)
    predictor = masklet.SAM2ImagePredictor(model)
    image = np.array(Image.open(args.image).convert("RGB"))
    predictor.set_image(image)
    x, y = (float(v) for v in args.point.split(","))
    masks, scores, _ = predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]), multimask_output=True)
    best = int(np.argmax(scores))
    mask = masks[best] > 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(out / "mask.png")
    Image.fromarray(overlay(image, mask.astype(np.uint8))).save(out / "overlay.jpg", quality=90)
    print(f"scores {np.round(scores, 3).tolist()}; best mask {best} covers {mask.mean():.1%} of the image")
    print(f"wrote {out / 'mask.png'} and {out / 'overlay.jpg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
