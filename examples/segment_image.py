"""Segment an object in a photo from one click, and save the mask and an overlay.

    python examples/segment_image.py --checkpoint sam2.1_hiera_tiny.pt --config sam2.1_hiera_t \
        --image ../shared/data/images/truck.jpg --point 500,375 --out out/

`--checkpoint standin` uses deterministic stand-in weights (no download needed; its
masks show the pipeline works, not what a trained model would segment).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import masklet

ROOT = Path(__file__).resolve().parents[1]


def overlay(image: np.ndarray, mask: np.ndarray, color=(30, 144, 255), alpha: float = 0.5) -> np.ndarray:
    out = image.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * np.array(color, dtype=np.float32)
    return out.astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="sam2.1_hiera_t", help="model config (official name or alias)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint file, URL, hub id, or 'standin'")
    parser.add_argument("--image", default=str(ROOT.parent / "shared" / "data" / "images" / "truck.jpg"))
    parser.add_argument("--point", default="500,375", help="x,y of a positive click in image pixels")
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
    Image.fromarray(overlay(image, mask)).save(out / "overlay.jpg", quality=90)
    print(f"scores {np.round(scores, 3).tolist()}; best mask {best} covers {mask.mean():.1%} of the image")
    print(f"wrote {out / 'mask.png'} and {out / 'overlay.jpg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
