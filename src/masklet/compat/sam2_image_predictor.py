"""`SAM2ImagePredictor` with the official interface: numpy in, numpy out."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import BadPrompt, NotReady
from ..inference.image_predictor import ImagePredictor, MaskPrediction
from ..model import Sam2


def _to_numpy(pred: MaskPrediction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The official return: (masks, iou_predictions, low_res_masks), leading 1 squeezed."""
    masks = pred.masks.squeeze(0).float().cpu().numpy()
    ious = pred.iou_scores.squeeze(0).float().cpu().numpy()
    low_res = pred.low_res_logits.squeeze(0).float().cpu().numpy()
    return masks, ious, low_res


class SAM2ImagePredictor:
    """Drop-in for the official SAM2ImagePredictor over masklet's ImagePredictor."""

    def __init__(
        self, sam_model: Sam2, mask_threshold: float = 0.0, max_hole_area: float = 0.0, max_sprinkle_area: float = 0.0, **kwargs: object
    ) -> None:
        self.model = sam_model
        self.predictor = ImagePredictor(sam_model, mask_threshold, max_hole_area, max_sprinkle_area)
        self.mask_threshold = mask_threshold
        self._is_batch = False

    @classmethod
    def from_pretrained(cls, model_id: str = "masklet-nano", **kwargs: object) -> SAM2ImagePredictor:
        from .build_sam import build_sam2_hf

        return cls(build_sam2_hf(model_id, **kwargs))

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def _is_image_set(self) -> bool:
        return self.predictor.embedding is not None

    @property
    def _orig_hw(self) -> list[tuple[int, int]]:
        return [] if self.predictor.embedding is None else list(self.predictor.embedding.orig_hw)

    @property
    def _features(self) -> dict[str, object] | None:
        emb = self.predictor.embedding
        return None if emb is None else {"image_embed": emb.image_embed, "high_res_feats": emb.high_res_feats}

    def set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)
        self._is_batch = False

    def set_image_batch(self, image_list: list[np.ndarray]) -> None:
        if not isinstance(image_list, list):
            raise TypeError("set_image_batch expects a list of HWC uint8 numpy arrays")
        self.predictor.set_images(image_list)
        self._is_batch = True

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks (C, H, W) or (B, C, H, W), their scores and 256x256 low-res logits."""
        if not self._is_image_set:
            raise NotReady("An image must be set with .set_image(...) before mask prediction.")
        if self._is_batch:
            raise NotReady("A batch of images is set: use predict_batch(...), or set_image(...) for one image.")
        pred = self.predictor.predict(point_coords, point_labels, box, mask_input, multimask_output, return_logits, normalize_coords)
        return _to_numpy(pred)

    def predict_batch(
        self,
        point_coords_batch: list[np.ndarray] | None = None,
        point_labels_batch: list[np.ndarray] | None = None,
        box_batch: list[np.ndarray] | None = None,
        mask_input_batch: list[np.ndarray] | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """predict() for each image of set_image_batch, with per-image prompt lists."""
        if not self._is_batch:
            raise NotReady("predict_batch needs images set with .set_image_batch(...)")
        n = len(self._orig_hw)

        def pick(batch: list | None, i: int) -> object:
            if batch is None:
                return None
            if len(batch) != n:
                raise BadPrompt(f"prompt lists must have one entry per image ({n}), got {len(batch)}")
            return batch[i]

        all_masks, all_ious, all_low_res = [], [], []
        for i in range(n):
            pred = self.predictor.predict(
                pick(point_coords_batch, i), pick(point_labels_batch, i), pick(box_batch, i), pick(mask_input_batch, i),
                multimask_output, return_logits, normalize_coords, image_index=i,
            )
            masks, ious, low_res = _to_numpy(pred)
            all_masks.append(masks)
            all_ious.append(ious)
            all_low_res.append(low_res)
        return all_masks, all_ious, all_low_res

    def get_image_embedding(self) -> torch.Tensor:
        if not self._is_image_set:
            raise NotReady("An image must be set with .set_image(...) to generate an embedding.")
        return self.predictor.embedding.image_embed

    def reset_predictor(self) -> None:
        self.predictor.reset()
        self._is_batch = False
