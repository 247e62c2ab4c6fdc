"""The interactive image protocol: mIoU after 1, 3 and 5 clicks.

The first click is placed at the centre of the object; each next click at the centre of
the largest error region (positive in a missed region, negative in a false one), the
previous low-res logits fed back as the mask prompt. "Centre" is the pixel farthest from
the region's border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..inference.connected_components import connected_components
from ..inference.image_predictor import ImagePredictor
from .metrics import region_similarity


def region_centre(region: np.ndarray) -> tuple[int, int]:
    """(x, y) of the pixel deepest inside a boolean region (by repeated 3x3 erosion)."""
    if not region.any():
        raise ValueError("empty region has no centre")
    x = torch.from_numpy(region.astype(np.float32))[None, None]
    x = F.pad(x, (1, 1, 1, 1))  # the image border counts as outside
    last = x
    while x.any():
        last = x
        x = -F.max_pool2d(-x, kernel_size=3, stride=1, padding=1)
    ys, xs = np.nonzero(last[0, 0, 1:-1, 1:-1].numpy())
    # Among the deepest pixels, the one nearest their mean: stable for symmetric shapes.
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(xs[i]), int(ys[i])


def next_click(pred: np.ndarray, gt: np.ndarray, max_side: int = 512) -> tuple[tuple[int, int], int] | None:
    """The next corrective click: ((x, y), label) in the largest error region, or None.

    Regions are found on a grid of at most `max_side` pixels a side (for speed on large
    photos); the click is scaled back to full-resolution pixels.
    """
    h, w = gt.shape
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    if step > 1:
        click = next_click(pred[::step, ::step], gt[::step, ::step], max_side)
        if click is None:
            return None if np.array_equal(pred, gt) else _any_error_click(pred, gt)
        (x, y), label = click
        return (min(x * step, w - 1), min(y * step, h - 1)), label
    best = None
    for region, label in ((gt & ~pred, 1), (pred & ~gt, 0)):
        if not region.any():
            continue
        labels, areas = connected_components(torch.from_numpy(region)[None, None])
        area = int(areas.max())
        if best is None or area > best[0]:
            component = (labels[0, 0] == labels.flatten()[areas.flatten().argmax()]).numpy()
            best = (area, component, label)
    if best is None:
        return None
    return region_centre(best[1]), best[2]


def _any_error_click(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[int, int], int]:
    """Errors too thin for the coarse grid: click the first wrong pixel."""
    ys, xs = np.nonzero(pred != gt)
    return (int(xs[0]), int(ys[0])), int(gt[ys[0], xs[0]])


@dataclass
class ClickResult:
    ious: list[float]  # IoU after click 1, 2, ... for one object


def simulate_clicks(predictor: ImagePredictor, gt: np.ndarray, num_clicks: int = 5) -> ClickResult:
    """Clicks on the (already set) image of `predictor` until `num_clicks`; IoU after each."""
    points: list[tuple[int, int]] = []
    labels: list[int] = []
    pred = np.zeros_like(gt, dtype=bool)
    logits = None
    ious = []
    for k in range(num_clicks):
        click = next_click(pred, gt)
        if click is None:  # perfect already
            ious.append(ious[-1])
            continue
        points.append(click[0])
        labels.append(click[1])
        out = predictor.predict(np.array(points), np.array(labels), mask_input=logits, multimask_output=k == 0)
        best = int(out.iou_scores[0].argmax())
        pred = out.masks[0, best].cpu().numpy()
        logits = out.low_res_logits[:, best : best + 1]
        ious.append(region_similarity(pred, gt))
    return ClickResult(ious)


def click_miou(predictor: ImagePredictor, samples: list[tuple[np.ndarray, np.ndarray]], clicks: tuple[int, ...] = (1, 3, 5)) -> dict[int, float]:
    """mIoU after each number of clicks over (image, gt mask) samples, one object each."""
    results = []
    for image, gt in samples:
        predictor.set_image(image)
        results.append(simulate_clicks(predictor, gt.astype(bool), max(clicks)).ious)
    return {k: float(np.mean([r[k - 1] for r in results])) for k in clicks}


def dataset_samples(root, min_area: float = 0.005) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, mask) of every object visible on the middle frame of each DAVIS-layout sequence."""
    from pathlib import Path

    from PIL import Image

    from .vos import list_sequences, read_annotation

    root = Path(root)
    samples = []
    for name in list_sequences(root):
        anns = sorted((root / "Annotations" / name).glob("*.png"))
        mid = anns[len(anns) // 2]
        label = read_annotation(mid)
        image = np.asarray(Image.open(root / "JPEGImages" / name / f"{mid.stem}.jpg").convert("RGB"))
        for obj_id in np.unique(label):
            mask = label == obj_id
            if obj_id != 0 and mask.mean() >= min_area:
                samples.append((image, mask))
    return samples
