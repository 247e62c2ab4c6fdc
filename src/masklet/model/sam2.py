"""Sam2: the whole network assembled from its blocks.

Parameter names are those of the official checkpoints, so an official state dict loads
with `load_state_dict(strict=True)`. This module holds weights and pure computation;
prompts, sessions and video state live in masklet.inference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import Sam2Config
from .common import MLP
from .image_encoder import ImageEncoder, ImageFeatures
from .mask_decoder import MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .prompt_encoder import PromptEncoder


class Sam2(nn.Module):
    """Image encoder, prompt encoder, mask decoder, memory attention and memory encoder."""

    def __init__(self, cfg: Sam2Config) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.prompt_embed_dim
        mem_dim = cfg.memory_encoder.out_dim
        emb = cfg.image_embedding_size

        self.image_encoder = ImageEncoder(cfg.hiera, cfg.neck)
        self.memory_attention = MemoryAttention(cfg.memory_attention, kv_in_dim=mem_dim)
        self.memory_encoder = MemoryEncoder(d, cfg.memory_encoder)
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
            fpn[0] = self.sam_mask_decoder.conv_s0(fpn[0])
            fpn[1] = self.sam_mask_decoder.conv_s1(fpn[1])
            feats.backbone_fpn = fpn
        return feats

    def image_embedding_without_memory(self, feats: ImageFeatures) -> Tensor:
        """The stride-16 embedding of a frame that has no memory to attend to (an image)."""
        x = feats.vision_features  # (B, C, h, w)
        if self.cfg.directly_add_no_mem_embed:
            x = x + self.no_mem_embed.view(1, -1, 1, 1)
        return x

    def forward(self, images: Tensor) -> ImageFeatures:
        return self.forward_image(images)
