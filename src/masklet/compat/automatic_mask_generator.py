"""`SAM2AutomaticMaskGenerator` with the official interface, over masklet's MaskGenerator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BadInput
from ..inference.image_predictor import ImagePredictor
from ..inference.mask_generator import GeneratedMask, GeneratorSettings, MaskGenerator
from ..model import Sam2

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


class SAM2AutomaticMaskGenerator:
    """Drop-in for the official SAM2AutomaticMaskGenerator: `generate(image)` returns its
    list of records (segmentation, area, bbox XYWH, predicted_iou, point_coords,
    stability_score, crop_box XYWH). Needs neither torchvision nor OpenCV."""

    def __init__(
        self,
        model: Sam2,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
        **kwargs: object,
    ) -> None:
        output_mode = "binary_mask" if output_mode == "binary" else output_mode
        if output_mode not in OUTPUT_MODES:
            raise BadInput(f"unknown output_mode {output_mode!r}: use one of {', '.join(OUTPUT_MODES)}")
        self.output_mode = output_mode
        self.settings = GeneratorSettings(
            points_per_side=points_per_side, points_per_batch=points_per_batch, pred_iou_thresh=pred_iou_thresh,
            stability_score_thresh=stability_score_thresh, stability_score_offset=stability_score_offset,
            mask_threshold=mask_threshold, box_nms_thresh=box_nms_thresh, crop_n_layers=crop_n_layers,
            crop_nms_thresh=crop_nms_thresh, crop_overlap_ratio=crop_overlap_ratio,
            crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            point_grids=None if point_grids is None else tuple(point_grids), min_mask_region_area=min_mask_region_area,
            use_m2m=use_m2m, multimask_output=multimask_output,
        )
        self.predictor = ImagePredictor(model)
        self.generator = MaskGenerator(self.predictor, self.settings)

    @classmethod
    def from_pretrained(cls, model_id: str = "masklet-nano", **kwargs: object) -> SAM2AutomaticMaskGenerator:
        """A generator over a model from a hub id ("facebook/sam2.1-hiera-tiny") or a model name."""
        from .build_sam import build_sam2_hf

        generator_keys = set(cls.__init__.__code__.co_varnames[2 : cls.__init__.__code__.co_argcount])
        model_kwargs = {k: v for k, v in kwargs.items() if k not in generator_keys}
        return cls(build_sam2_hf(model_id, **model_kwargs), **{k: v for k, v in kwargs.items() if k in generator_keys})

    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """The records of every mask of an HWC uint8 image, as the official generator gives them."""
        return [mask_record(m, self.output_mode) for m in self.generator.generate(image)]


def mask_record(m: GeneratedMask, output_mode: str = "coco_rle") -> dict[str, Any]:
    """The official generator's record of a mask (boxes XYWH, the segmentation in `output_mode`)."""
    if output_mode == "binary_mask":
        segmentation: object = m.mask
    else:
        segmentation = m.rle(compressed=output_mode == "coco_rle")
    x0, y0, x1, y1 = m.box
    cx0, cy0, cx1, cy1 = m.crop_box
    return {
        "segmentation": segmentation,
        "area": m.area,
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "predicted_iou": m.predicted_iou,
        "point_coords": [m.point],
        "stability_score": m.stability_score,
        "crop_box": [cx0, cy0, cx1 - cx0, cy1 - cy0],
    }
