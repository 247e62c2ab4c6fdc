"""Sam2: the whole network assembled from its blocks.

Parameter names are those of the official checkpoints, so an official state dict loads
with `load_state_dict(strict=True)`. This module holds weights and pure computation;
prompts, sessions and video state live in masklet.inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Sam2Config
from .common import MLP
from .image_encoder import ImageEncoder, ImageFeatures
from .mask_decoder import MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .position_encoding import sine_encoding_1d
from .prompt_encoder import NOT_A_POINT, PromptEncoder
from .spatial_perceiver import SpatialPerceiver

# Mask logit of an object judged absent: far below any threshold.
NO_OBJ_SCORE = -1024.0


@dataclass
class TrackOutput:
    """One object's answer on one frame."""

    low_res_masks: Tensor  # (B, 1, 4h, 4w) logits
    obj_ptr: Tensor  # (B, C) object pointer for later frames' memory attention
    object_score_logits: Tensor  # (B, 1) > 0: the object is visible
    image_size: int  # S, the model's input size
    all_masks: Tensor | None = None  # (B, M, 4h, 4w) every candidate (training supervises the best)
    iou_scores: Tensor | None = None  # (B, M) their predicted IoU
    _high_res: Tensor | None = None

    @property
    def high_res_masks(self) -> Tensor:
        """(B, 1, S, S) logits at the input size, made when first needed (only the memory
        encoder reads them, and a click answered at once never reaches it)."""
        if self._high_res is None:
            size = (self.image_size, self.image_size)
            self._high_res = F.interpolate(self.low_res_masks, size=size, mode="bilinear", align_corners=False)
        return self._high_res


@dataclass
class MemoryTokens:
    """The memory bank flattened into the key/value sequence of memory attention."""

    tokens: Tensor  # (B, M, C_mem): spatial memories, then object-pointer tokens
    pos: Tensor  # (B, M, C_mem)
    num_obj_ptr_tokens: int  # trailing tokens that get no rotary encoding


class Sam2(nn.Module):
    """Image encoder, prompt encoder, mask decoder, memory attention and memory encoder."""

    def __init__(self, cfg: Sam2Config) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.prompt_embed_dim
        mem_dim = cfg.memory_encoder.out_dim
        emb = cfg.image_embedding_size

        self.image_encoder = ImageEncoder(cfg.trunk, cfg.neck)
        self.memory_attention = MemoryAttention(cfg.memory_attention, kv_in_dim=mem_dim, compressed=cfg.spatial_perceiver)
        self.memory_encoder = MemoryEncoder(d, cfg.memory_encoder)
        if cfg.spatial_perceiver is not None:
            self.spatial_perceiver = SpatialPerceiver(cfg.spatial_perceiver)  # EdgeTAM
        self.sam_prompt_encoder = PromptEncoder(d, (emb, emb), (cfg.image_size, cfg.image_size), cfg.mask_in_chans)
        self.sam_mask_decoder = MaskDecoder(d, cfg.mask_decoder)

        # Temporal position encodings of the num_maskmem memory slots.
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(cfg.num_maskmem, 1, 1, mem_dim))
        # Stand-ins for "no memory yet" on a frame conditioned only on its prompts.
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, d))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, d))
        if cfg.mask_decoder.pred_obj_scores and cfg.fixed_no_obj_ptr:
            self.no_obj_ptr = nn.Parameter(torch.zeros(1, d))  # pointer of an absent object
        if cfg.no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem_dim))  # SAM 2.1 occlusion
        # Turns a mask prompt used directly as output into a low-res logit map.
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.obj_ptr_proj = MLP(d, d, d, 3) if cfg.use_mlp_for_obj_ptr_proj else nn.Linear(d, d)
        if cfg.proj_tpos_enc_in_obj_ptrs:
            self.obj_ptr_tpos_proj = nn.Linear(d, mem_dim)  # SAM 2.1
        else:
            self.obj_ptr_tpos_proj = nn.Identity()

    @property
    def device(self) -> torch.device:
        return self.no_mem_embed.device

    def forward_image(self, images: Tensor) -> ImageFeatures:
        """Encode normalised (B, 3, S, S) images; the fine levels are pre-projected for the decoder."""
        feats = self.image_encoder(images)
        if self.cfg.mask_decoder.use_high_res_features:
            fpn = list(feats.backbone_fpn)
            # Channels-last, the layout of the decoder's upscaling path they are added to.
            fpn[0] = self.sam_mask_decoder.conv_s0(fpn[0]).contiguous(memory_format=torch.channels_last)
            fpn[1] = self.sam_mask_decoder.conv_s1(fpn[1]).contiguous(memory_format=torch.channels_last)
            feats.backbone_fpn = fpn
        return feats

    def image_embedding_without_memory(self, feats: ImageFeatures) -> Tensor:
        """The stride-16 embedding of a frame that has no memory to attend to (an image)."""
        return self.image_embedding_without_memory_map(feats.vision_features)

    @property
    def image_size(self) -> int:
        """The square input resolution (the official models' attribute)."""
        return self.cfg.image_size

    def forward(self, *args: object, **kwargs: object) -> None:
        # As in the official model: the network runs in steps, called by the predictors.
        raise NotImplementedError(
            "Sam2 runs in steps: forward_image, forward_sam_heads, condition_on_memory, encode_memory; "
            "use ImagePredictor / VideoPredictor (or SAM2ImagePredictor / SAM2VideoPredictor)"
        )

    # -- prompting a frame ------------------------------------------------------------

    def use_multimask(self, is_init_cond_frame: bool, num_points: int) -> bool:
        """Three candidate masks for ambiguous prompts: at most one click, or none while tracking."""
        cfg = self.cfg
        return (
            cfg.multimask_output_in_sam
            and (is_init_cond_frame or cfg.multimask_output_for_tracking)
            and cfg.multimask_min_pt_num <= num_points <= cfg.multimask_max_pt_num
        )

    def forward_sam_heads(
        self,
        backbone_features: Tensor,
        points: tuple[Tensor, Tensor] | None,
        mask_inputs: Tensor | None,
        high_res_features: list[Tensor] | None,
        multimask_output: bool,
    ) -> TrackOutput:
        """Prompt encoder + mask decoder on (B, C, h, w) features; the best mask when multimask."""
        b = backbone_features.shape[0]
        if points is None:  # tracking without clicks: a lone "not a point"
            points = (
                torch.zeros(b, 1, 2, device=backbone_features.device),
                torch.full((b, 1), NOT_A_POINT, dtype=torch.int32, device=backbone_features.device),
            )
        if mask_inputs is not None and tuple(mask_inputs.shape[-2:]) != self.sam_prompt_encoder.mask_input_size:
            mask_inputs = F.interpolate(
                mask_inputs.float(), size=self.sam_prompt_encoder.mask_input_size, mode="bilinear", align_corners=False, antialias=True
            )
        sparse, dense = self.sam_prompt_encoder(points=points, boxes=None, masks=mask_inputs)
        out = self.sam_mask_decoder(
            image_embeddings=backbone_features,
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=False,
            high_res_features=high_res_features,
        )
        masks, obj_logits = out.masks, out.object_score_logits
        present = obj_logits > 0  # (B, 1)
        if self.cfg.mask_decoder.pred_obj_scores:
            masks = torch.where(present[:, :, None, None], masks, NO_OBJ_SCORE)
        masks = masks.float()
        all_masks = masks
        token = out.mask_tokens[:, 0]
        if multimask_output:
            best = out.iou_scores.argmax(dim=-1)
            rows = torch.arange(b, device=masks.device)
            masks = masks[rows, best].unsqueeze(1)
            if out.mask_tokens.shape[1] > 1:
                token = out.mask_tokens[rows, best]
        obj_ptr = self.obj_ptr_proj(token)
        if self.cfg.mask_decoder.pred_obj_scores:
            obj_ptr = self._pointer_for_presence(obj_ptr, present.float())
        return TrackOutput(masks, obj_ptr, obj_logits, self.cfg.image_size, all_masks, out.iou_scores)

    def _pointer_for_presence(self, obj_ptr: Tensor, present: Tensor) -> Tensor:
        """Swap in the learned no-object pointer where the object is absent."""
        if self.cfg.fixed_no_obj_ptr:
            obj_ptr = present * obj_ptr
        return obj_ptr + (1 - present) * self.no_obj_ptr

    def use_mask_as_output(self, backbone_features: Tensor, high_res_features: list[Tensor] | None, mask_inputs: Tensor) -> TrackOutput:
        """A mask prompt is taken as the answer itself; the decoder only supplies a pointer."""
        scale, bias = 20.0, -10.0  # binary mask -> confident logits
        mask = mask_inputs.float()
        high_res = mask * scale + bias
        low_res = F.interpolate(
            high_res, size=(high_res.shape[-2] // 4, high_res.shape[-1] // 4), mode="bilinear", align_corners=False, antialias=True
        )
        if self.cfg.use_obj_ptrs_in_encoder:
            obj_ptr = self.forward_sam_heads(
                backbone_features, None, self.mask_downsample(mask), high_res_features, multimask_output=False
            ).obj_ptr
        else:
            obj_ptr = torch.zeros(mask.shape[0], self.cfg.prompt_embed_dim, device=mask.device)
        present = (mask.flatten(1) > 0).any(dim=1, keepdim=True).float()
        obj_logits = scale * present + bias
        if self.cfg.mask_decoder.pred_obj_scores:
            obj_ptr = self._pointer_for_presence(obj_ptr, present)
        return TrackOutput(low_res, obj_ptr, obj_logits, self.cfg.image_size, low_res, torch.ones_like(obj_logits), high_res)

    # -- memory ---------------------------------------------------------------------------

    def memory_tokens(
        self,
        memories: list[tuple[int, Tensor, Tensor]],
        pointers: list[tuple[int, Tensor]],
        max_ptr_distance: int,
    ) -> MemoryTokens:
        """Flatten memories and object pointers, with their temporal position encodings.

        memories: (t_pos, features, pos_enc) with t_pos 0 for prompted frames and
        num_maskmem - k for the frame k steps away; features and pos_enc are maps
        (B, C_mem, h, w), or tokens (B, N, C_mem) when compressed (EdgeTAM). pointers:
        (temporal distance, pointer (B, C)).
        """
        cfg = self.cfg
        tokens, pos = [], []
        for t_pos, feats, pos_enc in memories:
            if feats.dim() == 4:
                feats, pos_enc = feats.flatten(2).transpose(1, 2), pos_enc.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, hw, C)
            tokens.append(feats.float())
            tpos = self.maskmem_tpos_enc[cfg.num_maskmem - t_pos - 1].view(1, 1, -1)
            pos.append(pos_enc + tpos)
        num_ptr_tokens = 0
        if pointers:
            b, c = pointers[0][1].shape
            mem_dim = cfg.memory_encoder.out_dim
            ptrs = torch.stack([p for _, p in pointers], dim=1)  # (B, N, C)
            if cfg.add_tpos_enc_to_obj_ptrs:
                distances = torch.tensor([float(d) for d, _ in pointers], device=ptrs.device)
                tpos_dim = c if cfg.proj_tpos_enc_in_obj_ptrs else mem_dim
                ptr_pos = self.obj_ptr_tpos_proj(sine_encoding_1d(distances / max(max_ptr_distance, 1), tpos_dim))
                ptr_pos = ptr_pos.unsqueeze(0).expand(b, -1, mem_dim)
            else:
                ptr_pos = ptrs.new_zeros(b, len(pointers), mem_dim)
            if mem_dim < c:
                # Each C-wide pointer becomes C / C_mem tokens of the memory width.
                split = c // mem_dim
                ptrs = ptrs.reshape(b, -1, split, mem_dim).flatten(1, 2)
                ptr_pos = ptr_pos.repeat_interleave(split, dim=1)
            tokens.append(ptrs)
            pos.append(ptr_pos)
            num_ptr_tokens = ptrs.shape[1]
        return MemoryTokens(torch.cat(tokens, dim=1), torch.cat(pos, dim=1), num_ptr_tokens)

    def condition_on_memory(
        self, vision_feat: Tensor, vision_pos: Tensor, memory: MemoryTokens | None, key_pool: int = 1
    ) -> Tensor:
        """Frame features (B, C, h, w) attended to the memory bank; no memory: no_mem_embed.

        key_pool > 1: the approximate 'fast' memory attention (a tracker option)."""
        b, c, h, w = vision_feat.shape
        if memory is None:
            return self.image_embedding_without_memory_map(vision_feat)
        curr = vision_feat.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, hw, C)
        curr_pos = vision_pos.flatten(2).transpose(1, 2)
        out = self.memory_attention(curr, memory.tokens, curr_pos, memory.pos, num_obj_ptr_tokens=memory.num_obj_ptr_tokens,
                                    key_pool=key_pool)
        return out.transpose(1, 2).reshape(b, c, h, w)

    def image_embedding_without_memory_map(self, vision_feat: Tensor) -> Tensor:
        if not self.cfg.directly_add_no_mem_embed:
            raise NotImplementedError("only directly_add_no_mem_embed=True configs are supported")
        return vision_feat + self.no_mem_embed.view(1, -1, 1, 1)

    def encode_memory(
        self, pix_feat: Tensor, high_res_masks: Tensor, object_score_logits: Tensor, is_mask_from_pts: bool
    ) -> tuple[Tensor, Tensor]:
        """A frame's memory: its features (B, C, h, w) fused with its mask (B, 1, S, S):
        a (B, C_mem, h, w) map and its position, or (B, N, C_mem) tokens when compressed."""
        if self.cfg.binarize_mask_from_pts_for_mem_enc and is_mask_from_pts and not self.training:
            mask = (high_res_masks > 0).float()
        else:
            mask = torch.sigmoid(high_res_masks)
        return self.encode_memory_mask(pix_feat, mask, object_score_logits)

    def encode_memory_mask(self, pix_feat: Tensor, mask: Tensor, object_score_logits: Tensor) -> tuple[Tensor, Tensor]:
        """encode_memory from the mask in [0, 1] (sigmoid of the logits, or binarised)."""
        cfg = self.cfg
        mask = mask * cfg.sigmoid_scale_for_mem_enc + cfg.sigmoid_bias_for_mem_enc
        memory = self.memory_encoder(pix_feat, mask, skip_mask_sigmoid=True)
        features, pos = memory.features, memory.pos_enc
        if cfg.no_obj_embed_spatial:
            absent = 1.0 - (object_score_logits > 0).float()  # (B, 1)
            features = features + absent[:, :, None, None] * self.no_obj_embed_spatial.view(1, -1, 1, 1)
        if cfg.spatial_perceiver is not None:
            # EdgeTAM: the memory is compressed once, here, before it is stored.
            features, pos = self.spatial_perceiver(features, pos)  # (B, N, C_mem) tokens
        return features, pos
