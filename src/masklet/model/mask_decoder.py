"""The mask decoder: prompt tokens + image embedding -> masks, IoU scores, object score."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import MaskDecoderConfig
from .common import MLP, LayerNorm2d
from .two_way_transformer import TwoWayTransformer


@dataclass
class DecoderOutput:
    """What the decoder says about each prompt set of the batch."""

    masks: Tensor  # (B, M, 4h, 4w) mask logits; M = 3 (multimask) or 1
    iou_scores: Tensor  # (B, M) predicted IoU of each mask
    mask_tokens: Tensor  # (B, M, C) output tokens of those masks (object pointers come from them)
    object_score_logits: Tensor  # (B, 1) > 0 when the object is judged present


class MaskDecoder(nn.Module):
    """Two-way transformer over [obj-score, IoU, 4 mask tokens, prompts] and the image."""

    def __init__(self, transformer_dim: int, cfg: MaskDecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer = TwoWayTransformer(
            cfg.transformer_depth, transformer_dim, cfg.transformer_num_heads, cfg.transformer_mlp_dim
        )
        self.num_mask_tokens = cfg.num_multimask_outputs + 1  # + the single-mask token
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        if cfg.pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        if cfg.use_high_res_features:
            # Project the stride-4 and stride-8 backbone maps to the upscaling widths.
            self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            transformer_dim,
            cfg.iou_head_hidden_dim,
            self.num_mask_tokens,
            cfg.iou_head_depth,
            sigmoid_output=cfg.iou_prediction_use_sigmoid,
        )
        if cfg.pred_obj_scores:
            self.pred_obj_score_head = (
                MLP(transformer_dim, transformer_dim, 1, 3) if cfg.pred_obj_scores_mlp else nn.Linear(transformer_dim, 1)
            )

    def forward(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
        multimask_output: bool,
        repeat_image: bool,
        high_res_features: list[Tensor] | None = None,
    ) -> DecoderOutput:
        """Decode masks; `repeat_image` shares one image across a batch of prompt sets."""
        masks, iou, tokens, obj_logits = self.predict_masks(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, repeat_image, high_res_features
        )
        if multimask_output:
            masks, iou = masks[:, 1:], iou[:, 1:]
        elif self.cfg.dynamic_multimask_via_stability and not self.training:
            masks, iou = self.dynamic_multimask_via_stability(masks, iou)
        else:
            masks, iou = masks[:, 0:1], iou[:, 0:1]
        if multimask_output and self.cfg.use_multimask_token_for_obj_ptr:
            tokens = tokens[:, 1:]
        else:
            tokens = tokens[:, 0:1]
        return DecoderOutput(masks=masks, iou_scores=iou, mask_tokens=tokens, object_score_logits=obj_logits)

    def predict_masks(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse: Tensor,
        dense: Tensor,
        repeat_image: bool,
        high_res_features: list[Tensor] | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """All four masks, IoU scores, mask tokens and the object-score logit."""
        heads = [self.iou_token.weight, self.mask_tokens.weight]
        if self.cfg.pred_obj_scores:
            heads.insert(0, self.obj_score_token.weight)
        first = 1 if self.cfg.pred_obj_scores else 0  # index of the IoU token
        output_tokens = torch.cat(heads, dim=0).unsqueeze(0).expand(sparse.shape[0], -1, -1)
        tokens = torch.cat([output_tokens, sparse], dim=1)  # (B, 6 + N, C)

        src = image_embeddings
        if repeat_image:
            src = torch.repeat_interleave(src, tokens.shape[0], dim=0)
        src = src + dense
        pos = image_pe.expand(tokens.shape[0], -1, -1, -1)  # (1, C, h, w): one encoding for all
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos, tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1 : first + 1 + self.num_mask_tokens, :]

        # A channels-last view of the token-major map: the transposed convolutions run
        # fastest on that layout, and the high-resolution features are kept in it too.
        src = src.view(b, h, w, c).permute(0, 3, 1, 2)
        if self.cfg.use_high_res_features and high_res_features is not None:
            dc1, ln1, act1, dc2, act2 = self.output_upscaling
            feat_s0, feat_s1 = high_res_features
            upscaled = act1(ln1(dc1(src) + feat_s1))
            upscaled = act2(dc2(upscaled) + feat_s0)
        else:
            upscaled = self.output_upscaling(src)

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )  # (B, 4, C/8)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.flatten(2)).view(b, -1, h, w)
        iou_pred = self.iou_prediction_head(iou_token_out)
        if self.cfg.pred_obj_scores:
            obj_logits = self.pred_obj_score_head(hs[:, 0, :])
        else:
            obj_logits = 10.0 * iou_pred.new_ones(iou_pred.shape[0], 1)  # always "present"
        return masks, iou_pred, mask_tokens_out, obj_logits

    def stability_scores(self, mask_logits: Tensor) -> Tensor:
        """IoU of the mask thresholded at +delta and at -delta: 1.0 means stable."""
        flat = mask_logits.flatten(-2)
        delta = self.cfg.dynamic_multimask_stability_delta
        inner = (flat > delta).sum(-1).float()
        outer = (flat > -delta).sum(-1).float()
        return torch.where(outer > 0, inner / outer, torch.ones_like(inner))

    def dynamic_multimask_via_stability(self, masks: Tensor, iou: Tensor) -> tuple[Tensor, Tensor]:
        """Keep the single-mask output where stable, else the best of the three."""
        multi_masks, multi_iou = masks[:, 1:], iou[:, 1:]
        best = multi_iou.argmax(dim=-1)
        rows = torch.arange(multi_iou.shape[0], device=iou.device)
        best_masks = multi_masks[rows, best].unsqueeze(1)
        best_iou = multi_iou[rows, best].unsqueeze(1)
        single_masks, single_iou = masks[:, 0:1], iou[:, 0:1]
        stable = self.stability_scores(single_masks) >= self.cfg.dynamic_multimask_stability_thresh
        out_masks = torch.where(stable[..., None, None], single_masks, best_masks)
        out_iou = torch.where(stable, single_iou, best_iou)
        return out_masks, out_iou
