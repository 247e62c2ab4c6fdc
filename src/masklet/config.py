"""Configuration of a SAM 2 network: small frozen dataclasses, one per block.

Every field that changes the computation is spelled out here; presets.py fills them in
for the official sizes. Derived values are properties so they can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

# The normalisation of every model's input (ImageNet statistics, RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class HieraConfig:
    """The hierarchical ViT trunk of the image encoder."""

    embed_dim: int  # channels of the first stage; doubled at each stage
    num_heads: int  # heads of the first stage; doubled at each stage
    stages: tuple[int, ...]  # blocks per stage
    global_att_blocks: tuple[int, ...]  # blocks attending over the whole image, not windows
    window_spec: tuple[int, ...] = (8, 4, 14, 7)  # mask-unit/window size per stage
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (7, 7)  # background pos-embed grid
    q_pool: int = 3  # number of stage transitions that pool the queries
    q_stride: tuple[int, int] = (2, 2)  # query pooling stride
    dim_mul: float = 2.0  # channel growth per stage
    head_mul: float = 2.0  # head-count growth per stage
    mlp_ratio: float = 4.0

    @property
    def stage_dims(self) -> tuple[int, ...]:
        return tuple(int(self.embed_dim * self.dim_mul**i) for i in range(len(self.stages)))

    @property
    def backbone_channel_list(self) -> tuple[int, ...]:
        """Channels of the trunk outputs, coarsest first (the neck's order)."""
        return tuple(reversed(self.stage_dims))


@dataclass(frozen=True)
class RepViTConfig:
    """The RepViT trunk (EdgeTAM's image encoder): a mobile CNN built like a ViT, each
    block a depthwise token mixer then a 1x1 channel mixer; RepViT-M1 by default."""

    embed_dims: tuple[int, ...] = (48, 96, 192, 384)  # channels of the four stages (strides 4, 8, 16, 32)
    depths: tuple[int, ...] = (2, 2, 14, 2)  # blocks per stage, after each later stage's downsampling
    mlp_ratio: int = 2  # channel mixer width / stage width
    kernel_size: int = 3  # depthwise token-mixer kernel
    se_ratio: float = 0.25  # squeeze-excitation width (rounded up to a multiple of 8), every other block

    @property
    def backbone_channel_list(self) -> tuple[int, ...]:
        """Channels of the trunk outputs, coarsest first (the neck's order)."""
        return tuple(reversed(self.embed_dims))


@dataclass(frozen=True)
class SpatialPerceiverConfig:
    """EdgeTAM's 2D spatial perceiver: each memory frame compressed to a few latents,
    global ones that attend to the whole frame and spatial ones, each attending to its own
    window of a square grid, that keep a 2D position."""

    dim: int = 64  # the memory width
    depth: int = 2  # layers, shared by the global and the spatial latents
    dim_head: int = 64
    heads: int = 1
    ff_mult: int = 4
    num_latents: int = 256  # global latents (no position)
    num_latents_2d: int = 256  # spatial latents: a 16 x 16 grid, one per window

    @property
    def grid(self) -> int:
        """Side of the spatial latents' grid."""
        return math.isqrt(self.num_latents_2d)

    @property
    def tokens(self) -> int:
        """Memory tokens per frame after compression."""
        return self.num_latents + self.num_latents_2d


@dataclass(frozen=True)
class NeckConfig:
    """The FPN neck turning the trunk's stages into 256-channel feature maps."""

    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)  # levels that receive the coarser map
    scalp: int = 1  # coarsest levels dropped after the neck


@dataclass(frozen=True)
class MaskDecoderConfig:
    """The two-way transformer mask decoder and its heads."""

    transformer_depth: int = 2
    transformer_mlp_dim: int = 2048
    transformer_num_heads: int = 8
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    use_high_res_features: bool = True  # skip connections from strides 4 and 8
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True  # object-score head: is the object visible at all?
    pred_obj_scores_mlp: bool = True  # that head is a 3-layer MLP rather than a linear layer
    use_multimask_token_for_obj_ptr: bool = True
    # Single-mask answers fall back to the best multimask output when the single mask is
    # unstable under a threshold shift (build_sam2's "apply_postprocessing").
    dynamic_multimask_via_stability: bool = False
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


@dataclass(frozen=True)
class MemoryAttentionConfig:
    """Self- and cross-attention of the current frame to the memory bank."""

    d_model: int = 256
    num_layers: int = 4
    dim_feedforward: int = 2048
    num_heads: int = 1
    dropout: float = 0.1
    rope_theta: float = 10000.0
    pos_enc_at_input: bool = True  # add 0.1 x position encoding to the frame tokens
    pos_enc_at_attn: bool = False
    pos_enc_at_cross_attn_keys: bool = True
    pos_enc_at_cross_attn_queries: bool = False


@dataclass(frozen=True)
class MemoryEncoderConfig:
    """Fuses a frame's features with its predicted mask into a memory."""

    out_dim: int = 64  # memory channels
    mask_kernel_size: int = 3
    mask_stride: int = 2
    mask_padding: int = 1
    fuser_num_layers: int = 2
    fuser_kernel_size: int = 7


@dataclass(frozen=True)
class Sam2Config:
    """The whole network: image encoder, prompt encoder, mask decoder and memory."""

    name: str
    trunk: HieraConfig | RepViTConfig  # the image encoder's backbone: Hiera (SAM 2) or RepViT (EdgeTAM)
    neck: NeckConfig = field(default_factory=NeckConfig)
    mask_decoder: MaskDecoderConfig = field(default_factory=MaskDecoderConfig)
    memory_attention: MemoryAttentionConfig = field(default_factory=MemoryAttentionConfig)
    memory_encoder: MemoryEncoderConfig = field(default_factory=MemoryEncoderConfig)
    spatial_perceiver: SpatialPerceiverConfig | None = None  # EdgeTAM: memories compressed before they are stored
    image_size: int = 1024  # square input resolution
    backbone_stride: int = 16  # stride of the lowest-resolution feature map used
    mask_in_chans: int = 16  # hidden channels of the prompt encoder's mask downscaling
    num_maskmem: int = 7  # memories attended to: the prompted frame(s) + 6 recent frames
    max_obj_ptrs_in_encoder: int = 16  # object pointers attended to
    sigmoid_scale_for_mem_enc: float = 20.0  # mask logits -> memory encoder input
    sigmoid_bias_for_mem_enc: float = -10.0
    use_mask_input_as_output_without_sam: bool = True  # a mask prompt is the answer as is
    directly_add_no_mem_embed: bool = True  # frames without memory get no_mem_embed added
    multimask_output_in_sam: bool = True  # three masks on the first click of a frame
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = True
    use_obj_ptrs_in_encoder: bool = True  # object pointers join the memory tokens
    use_mlp_for_obj_ptr_proj: bool = True
    only_obj_ptrs_in_the_past_for_eval: bool = True
    fixed_no_obj_ptr: bool = True  # a learned pointer for frames where the object is absent
    add_tpos_enc_to_obj_ptrs: bool = False  # SAM 2.1: temporal encoding on object pointers
    proj_tpos_enc_in_obj_ptrs: bool = False  # SAM 2.1: project it to the memory width
    use_signed_tpos_enc_to_obj_ptrs: bool = False  # SAM 2.1: signed temporal distance
    no_obj_embed_spatial: bool = False  # SAM 2.1: occlusion embedding added to memories
    memory_temporal_stride_for_eval: int = 1  # recent memories every this many frames (masklet trains with it too)
    binarize_mask_from_pts_for_mem_enc: bool = False  # video predictor sets it True
    max_cond_frames_in_attn: int = -1  # -1: attend to every prompted frame

    @property
    def prompt_embed_dim(self) -> int:
        return self.neck.d_model

    @property
    def image_embedding_size(self) -> int:
        return self.image_size // self.backbone_stride

    @property
    def low_res_mask_size(self) -> int:
        return self.image_embedding_size * 4

    def with_overrides(self, **overrides: object) -> Sam2Config:
        """Return a copy with top-level or `block.field` options replaced."""
        top: dict[str, object] = {}
        nested: dict[str, dict[str, object]] = {}
        for key, value in overrides.items():
            if "." in key:
                block, sub = key.split(".", 1)
                nested.setdefault(block, {})[sub] = value
            else:
                top[key] = value
        for block, values in nested.items():
            top[block] = replace(getattr(self, block), **values)
        return replace(self, **top)


@dataclass(frozen=True)
class TrackerOptions:
    """How a video predictor runs a network: choices that change no weight.

    They belong to the predictor, not the network (one model may serve predictors with
    different options); the official builders' keywords and hydra overrides of these
    names land here.
    """

    fill_hole_area: int = 0  # fill holes up to this area (pixels) in output masks; the official builder: 8
    non_overlap_masks: bool = False  # each pixel to the object with the highest logit
    # A prompt on a frame propagation has reached becomes a prompted (conditioning) frame
    # (the reference's default keeps it a tracked frame, dropped at the next propagation).
    add_all_frames_to_correct_as_cond: bool = False
    # A correction on a tracked frame keeps its answer through later propagations, which
    # reuse it instead of tracking the frame again: SAM 2 v1.0's behaviour, which EdgeTAM's
    # code keeps (its preset's default); sam2 1.1 recomputes such a frame.
    keep_corrections: bool = False
    # Speed, approximate: > 1 cross-attends to memories averaged over key_pool x key_pool
    # patches (key_pool^2 times less work; the 'fast' speed mode). 1 is the exact computation.
    key_pool: int = 1


# Speed modes: tracker options that trade exactness for time (see README, "Speed").
SPEED_MODES: dict[str, dict[str, object]] = {
    "exact": {},  # the reference's computation
    "fast": {"key_pool": 2},  # memory attention over 2x2-averaged memories
}
