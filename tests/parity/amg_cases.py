"""The automatic mask generator's parity cases, shared by the fixture script and the tests.

Under stand-in weights the candidates are large and overlap: the default thresholds keep
none (the default cases check that with an 8x8 grid, as a 32x32 one takes
minutes on a CPU), so the cases that keep many set the thresholds near 0 and the box NMS high.
"""

from __future__ import annotations

from image_cases import IMAGES  # noqa: F401  (the photos)

CONFIG = "sam2.1_hiera_t"
SUB = 8  # masks are stored every SUB-th pixel (bit-packed), with their exact area and box
LOW = dict(pred_iou_thresh=0.01, stability_score_thresh=0.01)

CASES: dict[str, tuple[str, dict]] = {
    "truck/default": ("truck", dict(points_per_side=8)),
    "groceries/default": ("groceries", dict(points_per_side=8)),
    "truck/many": ("truck", dict(points_per_side=8, box_nms_thresh=1.0, **LOW)),
    "groceries/many": ("groceries", dict(points_per_side=8, box_nms_thresh=1.0, **LOW)),
    "groceries/nms": ("groceries", dict(points_per_side=8, box_nms_thresh=0.95, **LOW)),
    "truck/crops": ("truck", dict(points_per_side=4, crop_n_layers=1, box_nms_thresh=1.0, crop_nms_thresh=0.97, **LOW)),
    "groceries/m2m": ("groceries", dict(points_per_side=6, use_m2m=True, box_nms_thresh=1.0, **LOW)),
    "groceries/min_area": ("groceries", dict(points_per_side=6, min_mask_region_area=40, box_nms_thresh=1.0, **LOW)),
    "groceries/single": ("groceries", dict(points_per_side=6, multimask_output=False, box_nms_thresh=1.0, **LOW)),
    "groceries/uncompressed_rle": ("groceries", dict(points_per_side=3, output_mode="uncompressed_rle", box_nms_thresh=1.0, **LOW)),
    "groceries/coco_rle": ("groceries", dict(points_per_side=3, output_mode="coco_rle", box_nms_thresh=1.0, **LOW)),
}
