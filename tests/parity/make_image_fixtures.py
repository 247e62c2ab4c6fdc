"""Regenerate the image-predictor golden outputs with the reference implementation.

Run with the reference environment (../shared/tools/reference-env), from the repo root:

    /tmp/sam2-reference/bin/python tests/parity/make_image_fixtures.py

It writes stand-in checkpoints (masklet.standin: a pure function of key and shape) in the
official format, runs the reference's SAM2ImagePredictor on the shared photos for each
case of image_cases.py, and saves masks (bit-packed), scores and low-res logits to
tests/parity/fixtures/image_<config>.npz. Only outputs of the reference are stored.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "parity"))

from image_cases import IMAGES, SAM2_CONFIGS, cases_for, images_for  # noqa: E402

from masklet.standin import save_standin_checkpoint  # noqa: E402


def main(configs: tuple[str, ...] = SAM2_CONFIGS, yaml_of=lambda c: f"configs/{c.split('_hiera_')[0]}/{c}.yaml") -> None:
    """Golden image outputs for `configs`, each built by the reference from `yaml_of(config)`."""
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    torch.manual_seed(0)
    out_dir = ROOT / "tests" / "parity" / "fixtures"
    out_dir.mkdir(parents=True, exist_ok=True)
    for config in configs:
        ckpt = save_standin_checkpoint(config, Path("/tmp/masklet-standin") / f"{config}.pt")
        model = build_sam2(yaml_of(config), str(ckpt), device="cpu")
        predictor = SAM2ImagePredictor(model)
        arrays: dict[str, np.ndarray] = {}
        for image_name in images_for(config):
            image_path = IMAGES[image_name]
            image = np.array(Image.open(image_path).convert("RGB"))
            predictor.set_image(image)
            feedback = None
            for case_name, kwargs in cases_for(image_name, config):
                kwargs = dict(kwargs)
                if kwargs.pop("mask_from_previous", False):
                    kwargs["mask_input"] = feedback.astype(np.float32)
                    arrays[f"{image_name}/{case_name}/mask_input"] = feedback
                masks, scores, low_res = predictor.predict(**kwargs)
                key = f"{image_name}/{case_name}"
                arrays[f"{key}/masks"] = np.packbits(masks.astype(bool), axis=-1)
                arrays[f"{key}/masks_shape"] = np.array(masks.shape)
                arrays[f"{key}/masks_dtype"] = np.array(str(masks.dtype))
                arrays[f"{key}/scores"] = scores
                arrays[f"{key}/low_res_shape"] = np.array(low_res.shape)
                # Every 4th logit of the 256x256 maps: a dense check of the logits themselves.
                arrays[f"{key}/low_res_sub"] = low_res[..., ::4, ::4].astype(np.float16)
                if case_name == "click":
                    best = int(np.argmax(scores))
                    feedback = low_res[best : best + 1].astype(np.float16)
                print(config, key, masks.shape, masks.dtype, np.round(scores, 4).tolist(), masks.reshape(-1, *masks.shape[-2:]).mean((1, 2)).round(3).tolist())
        np.savez_compressed(out_dir / f"image_{config}.npz", **arrays)


if __name__ == "__main__":
    main()
