"""Regenerate the automatic mask generator's golden outputs with the reference.

    /tmp/sam2-reference/bin/python tests/parity/make_amg_fixtures.py

Runs the reference's SAM2AutomaticMaskGenerator (sam2==1.1.0) on the cases of
amg_cases.py under stand-in weights and saves, per case, every record: the mask every
SUB-th pixel (bit-packed) with its exact area, bbox, predicted_iou, stability_score,
point_coords and crop_box, and for the RLE output modes the first record's segmentation
itself. The reference built without its CUDA extension skips the small-region clean-up
(min_mask_region_area), which a GPU build applies; for that case the missing connected
components come from OpenCV here, so the oracle does what it does on a GPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "parity"))

from amg_cases import CASES, CONFIG, SUB  # noqa: E402
from image_cases import IMAGES  # noqa: E402

from masklet.standin import save_standin_checkpoint  # noqa: E402


def connected_components_cpu(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What sam2's CUDA kernel returns: 8-connected labels and each pixel's component area."""
    import cv2

    flat = mask.reshape(-1, *mask.shape[-2:]).cpu().numpy().astype(np.uint8)
    labels, areas = np.zeros(flat.shape, np.int32), np.zeros(flat.shape, np.int32)
    for i, m in enumerate(flat):
        _, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        labels[i] = lab
        areas[i] = np.where(lab > 0, stats[lab, cv2.CC_STAT_AREA], 0)
    return torch.from_numpy(labels).reshape(mask.shape), torch.from_numpy(areas).reshape(mask.shape)


def main() -> None:
    import sam2.utils.misc
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2

    sam2.utils.misc.get_connected_components = connected_components_cpu
    ckpt = save_standin_checkpoint(CONFIG, Path("/tmp/masklet-standin") / f"{CONFIG}.pt")
    model = build_sam2(f"configs/{CONFIG.split('_hiera_')[0]}/{CONFIG}.yaml", str(ckpt), device="cpu")
    arrays: dict[str, np.ndarray] = {}
    for case, (image_name, kwargs) in CASES.items():
        image = np.array(Image.open(IMAGES[image_name]).convert("RGB"))
        records = SAM2AutomaticMaskGenerator(model, **kwargs).generate(image)
        masks = []
        for r in records:
            seg = r["segmentation"]
            if isinstance(seg, dict):
                from sam2.utils.amg import rle_to_mask

                from pycocotools import mask as mask_utils

                seg = rle_to_mask(seg) if isinstance(seg["counts"], list) else mask_utils.decode(seg).astype(bool)
            masks.append(np.packbits(seg[::SUB, ::SUB], axis=-1))
        arrays[f"{case}/masks"] = np.stack(masks) if masks else np.zeros((0, 1, 1), np.uint8)
        for key in ("area", "predicted_iou", "stability_score"):
            arrays[f"{case}/{key}"] = np.array([r[key] for r in records], dtype=np.float64)
        for key in ("bbox", "crop_box"):
            arrays[f"{case}/{key}"] = np.array([r[key] for r in records], dtype=np.float64).reshape(-1, 4)
        arrays[f"{case}/point_coords"] = np.array([r["point_coords"] for r in records], dtype=np.float64).reshape(-1, 2)
        if records and isinstance(records[0]["segmentation"], dict):
            arrays[f"{case}/first_segmentation"] = np.array(json.dumps(records[0]["segmentation"]))
        print(case, len(records), [round(r["area"] / image[..., 0].size, 3) for r in records[:6]], flush=True)
    np.savez_compressed(ROOT / "tests" / "parity" / "fixtures" / f"amg_{CONFIG}.npz", **arrays)


if __name__ == "__main__":
    with torch.inference_mode():
        main()
