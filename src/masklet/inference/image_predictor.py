"""Promptable segmentation of still images: embed once, then answer prompts at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import BadInput, BadPrompt, FrameOutOfRange, NotReady
from ..model import Sam2
from .transforms import image_to_tensor, postprocess_masks, preprocess, scale_coords

ImageLike = np.ndarray | Image.Image


@dataclass
class ImageEmbedding:
    """The encoder's answer for a batch of images: all that prompting needs."""

    image_embed: Tensor  # (B, C, h, w), no-memory embedding already added
    high_res_feats: list[Tensor]  # [(B, C/8, 4h, 4w), (B, C/4, 2h, 2w)]
    orig_hw: list[tuple[int, int]]  # (H, W) of each original image

    def select(self, index: int) -> ImageEmbedding:
        return ImageEmbedding(
            self.image_embed[index : index + 1],
            [f[index : index + 1] for f in self.high_res_feats],
            [self.orig_hw[index]],
        )


@dataclass
class MaskPrediction:
    """Masks for N prompt sets of one image, M candidates each."""

    masks: Tensor  # (N, M, H, W): bool, or logits with return_logits
    iou_scores: Tensor  # (N, M)
    low_res_logits: Tensor  # (N, M, 4h, 4w), clamped to [-32, 32]: feed back as mask_input
    object_score_logits: Tensor  # (N, 1)


def _as_tensor(x: object, dtype: torch.dtype, what: str) -> Tensor:
    try:
        return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise BadPrompt(f"{what} must be numeric array-like: {exc}") from None


class ImagePredictor:
    """Holds one embedded image (or a batch) and predicts masks from prompts on it."""

    def __init__(self, model: Sam2, mask_threshold: float = 0.0, max_hole_area: float = 0.0, max_sprinkle_area: float = 0.0) -> None:
        self.model = model
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self.embedding: ImageEmbedding | None = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.inference_mode()
    def embed(self, images: list[ImageLike]) -> ImageEmbedding:
        """Run the image encoder on a list of RGB images (each resized to the model size)."""
        if not images:
            raise BadInput("no images given")
        tensors = [image_to_tensor(im) for im in images]
        size = self.model.cfg.image_size
        batch = torch.cat([preprocess(t[None].to(self.device), size) for t in tensors])
        feats = self.model.forward_image(batch)
        return ImageEmbedding(
            image_embed=self.model.image_embedding_without_memory(feats),
            high_res_feats=feats.backbone_fpn[:-1],
            orig_hw=[tuple(t.shape[-2:]) for t in tensors],
        )

    def set_image(self, image: ImageLike) -> None:
        self.embedding = self.embed([image])

    def set_images(self, images: list[ImageLike]) -> None:
        self.embedding = self.embed(list(images))

    def reset(self) -> None:
        self.embedding = None

    def prepare_prompts(
        self,
        orig_hw: tuple[int, int],
        point_coords: object = None,
        point_labels: object = None,
        box: object = None,
        mask_input: object = None,
        normalize_coords: bool = True,
    ) -> tuple[tuple[Tensor, Tensor] | None, Tensor | None]:
        """Validate prompts and turn them into model-space (points, labels) and mask input.

        Boxes become two corner points with labels 2 and 3, placed before the clicks.
        """
        size = self.model.cfg.image_size
        points = None
        if point_coords is not None:
            if point_labels is None:
                raise BadPrompt("point_coords were given without point_labels: give one label per point (1 positive, 0 negative)")
            coords = _as_tensor(point_coords, torch.float32, "point_coords")
            labels = _as_tensor(point_labels, torch.int64, "point_labels")
            if coords.dim() == 2:
                coords, labels = coords[None], labels[None]
            if coords.dim() != 3 or coords.shape[-1] != 2:
                raise BadPrompt(f"point_coords must have shape (N, 2) or (B, N, 2), got {tuple(coords.shape)}")
            if labels.shape != coords.shape[:-1]:
                raise BadPrompt(
                    f"point_labels has shape {tuple(labels.shape)} but point_coords {tuple(coords.shape)}: "
                    "give exactly one label per point"
                )
            if not bool(((labels >= -1) & (labels <= 3)).all()):
                raise BadPrompt("point_labels must be 1 (positive), 0 (negative), 2/3 (box corners) or -1 (padding)")
            points = (scale_coords(coords, orig_hw, size, normalize_coords), labels)
        elif point_labels is not None:
            raise BadPrompt("point_labels were given without point_coords")
        if box is not None:
            boxes = _as_tensor(box, torch.float32, "box")
            if boxes.shape[-1:] != (4,) or boxes.dim() > 2:
                raise BadPrompt(f"box must have shape (4,) or (N, 4) as x1, y1, x2, y2; got {tuple(boxes.shape)}")
            corners = scale_coords(boxes.reshape(-1, 2, 2), orig_hw, size, normalize_coords)
            corner_labels = torch.tensor([[2, 3]]).repeat(corners.shape[0], 1)
            if points is not None:
                coords, labels = points
                if coords.shape[0] != corners.shape[0]:
                    if coords.shape[0] != 1:
                        raise BadPrompt(
                            f"{corners.shape[0]} boxes but {coords.shape[0]} point sets: give one point set per box, or one for all"
                        )
                    coords = coords.expand(corners.shape[0], -1, -1)
                    labels = labels.expand(corners.shape[0], -1)
                points = (torch.cat([corners, coords], dim=1), torch.cat([corner_labels, labels], dim=1))
            else:
                points = (corners, corner_labels)
        masks = None
        if mask_input is not None:
            masks = _as_tensor(mask_input, torch.float32, "mask_input")
            if masks.dim() == 3:
                masks = masks[None]
            expected = self.model.sam_prompt_encoder.mask_input_size
            if masks.dim() != 4 or masks.shape[1] != 1 or tuple(masks.shape[-2:]) != expected:
                raise BadPrompt(
                    f"mask_input must have shape (1, {expected[0]}, {expected[1]}) or (N, 1, ...): the low-res "
                    f"logits returned by a previous prediction; got {tuple(masks.shape)}"
                )
            masks = masks.to(self.device)
        if points is not None:
            points = (points[0].to(self.device), points[1].to(self.device))
        return points, masks

    @torch.inference_mode()
    def predict(
        self,
        point_coords: object = None,
        point_labels: object = None,
        box: object = None,
        mask_input: object = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
        image_index: int = 0,
    ) -> MaskPrediction:
        """Masks for the prompts on the image `image_index` of the embedded batch."""
        if self.embedding is None:
            raise NotReady("no image is set: call set_image(image) before predicting masks")
        if not 0 <= image_index < len(self.embedding.orig_hw):
            raise FrameOutOfRange(f"image_index {image_index} out of range for {len(self.embedding.orig_hw)} embedded images")
        emb = self.embedding.select(image_index)
        orig_hw = emb.orig_hw[0]
        points, masks_in = self.prepare_prompts(orig_hw, point_coords, point_labels, box, mask_input, normalize_coords)
        sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=masks_in)
        out = self.model.sam_mask_decoder(
            image_embeddings=emb.image_embed,
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=points is not None and points[0].shape[0] > 1,
            high_res_features=emb.high_res_feats,
        )
        masks = postprocess_masks(out.masks, orig_hw, self.mask_threshold, self.max_hole_area, self.max_sprinkle_area)
        if not return_logits:
            masks = masks > self.mask_threshold
        return MaskPrediction(
            masks=masks,
            iou_scores=out.iou_scores,
            low_res_logits=out.masks.clamp(-32.0, 32.0),
            object_score_logits=out.object_score_logits,
        )
