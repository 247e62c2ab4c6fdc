"""The network as ONNX graphs for masklet.runtime (onnxruntime and numpy, no torch).

Each graph is one block of the paper with fixed inputs, so the runtime's numpy code
holds all the logic that branches: which prompts, which candidate, which memories.
- image_encoder: a normalised (1, 3, S, S) image -> the stride-16 features and their
  position encoding, and the two fine levels already projected for the decoder;
- prompt_decoder: prompt encoder + mask decoder for N prompt sets on one image: every
  candidate mask (the first is the single-mask output), their IoU scores, the object
  score and each candidate's object pointer; the mask input is always an input, used
  where `has_mask_input` is 1 (no `None` branch frozen at trace time);
- memory_encoder: a frame's features and mask -> its memory (EdgeTAM: compressed by the
  spatial perceiver), the choice of binarising the mask an input too;
- memory_attention: a frame's features attended to any number of memory frames and
  object pointers (both dynamic; RoPE in real arithmetic).
`manifest.json` says what the runtime needs (sizes, normalisation, the decoder's
choices) and `params.npz` holds the few learned tensors used outside the graphs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..inference.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..model import Sam2
from ..presets import canonical_name, default_tracker_options
from ..model.sam2 import NO_OBJ_SCORE, MemoryTokens

OPSET = 18
GRAPHS = ("image_encoder", "prompt_decoder", "memory_encoder", "memory_attention")
FORMAT_VERSION = 1


class ImageEncoderGraph(nn.Module):
    """(1, 3, S, S) normalised image -> vision features, their position, fine features."""

    def __init__(self, model: Sam2) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        feats = self.model.forward_image(image)
        fine0, fine1 = (f.contiguous() for f in feats.backbone_fpn[:-1])
        return feats.backbone_fpn[-1], feats.vision_pos_enc[-1], fine0, fine1


class PromptDecoderGraph(nn.Module):
    """Prompt encoder + mask decoder for N prompt sets on one image's (conditioned) embedding."""

    def __init__(self, model: Sam2) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, image_embed: Tensor, fine0: Tensor, fine1: Tensor, point_coords: Tensor, point_labels: Tensor,
        mask_input: Tensor, has_mask_input: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        model = self.model
        pe = model.sam_prompt_encoder
        n = point_coords.shape[0]
        sparse = pe._embed_points(point_coords, point_labels, pad=False)  # the runtime pads (none for mask-only prompts)
        # Both dense embeddings, mixed by the flag: exact for a flag of 0 or 1.
        with_mask = pe.mask_downscaling(mask_input)
        h, w = pe.image_embedding_size
        without = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(n, -1, h, w)
        flag = has_mask_input.reshape(n, 1, 1, 1)
        dense = flag * with_mask + (1.0 - flag) * without
        decoder = model.sam_mask_decoder
        masks, iou, tokens, obj_logits = decoder.predict_masks(
            image_embed.expand(n, -1, -1, -1), pe.get_dense_pe(), sparse, dense, repeat_image=False,
            high_res_features=[fine0, fine1],
        )
        obj_ptrs = model.obj_ptr_proj(tokens)  # (N, M, C): each candidate's pointer
        return masks, iou, obj_logits, obj_ptrs


class MemoryEncoderGraph(nn.Module):
    """A frame's features and mask logits -> its memory and the memory's position encoding.
    `binarize` (1,): 1 where the mask is thresholded instead of squashed (a mask from clicks)."""

    def __init__(self, model: Sam2) -> None:
        super().__init__()
        self.model = model

    def forward(self, vision_feats: Tensor, high_res_masks: Tensor, object_score_logits: Tensor, binarize: Tensor) -> tuple[Tensor, Tensor]:
        flag = binarize.reshape(-1, 1, 1, 1)
        mask = flag * (high_res_masks > 0).float() + (1.0 - flag) * torch.sigmoid(high_res_masks)
        return self.model.encode_memory_mask(vision_feats, mask, object_score_logits)


class MemoryAttentionGraph(nn.Module):
    """A frame's features attended to its memory bank: spatial memories (any number of
    frames) and object pointers (any number, none included), each with its encoding."""

    def __init__(self, model: Sam2) -> None:
        super().__init__()
        self.model = model

    def forward(self, vision_feats: Tensor, vision_pos: Tensor, memory: Tensor, memory_pos: Tensor, pointers: Tensor,
                pointers_pos: Tensor) -> Tensor:
        tokens = MemoryTokens(torch.cat([memory, pointers], dim=1), torch.cat([memory_pos, pointers_pos], dim=1), pointers.shape[1])
        return self.model.condition_on_memory(vision_feats, vision_pos, tokens)


def _params(model: Sam2) -> dict[str, np.ndarray]:
    """Learned tensors the runtime uses outside the graphs."""
    out = {"no_mem_embed": model.no_mem_embed.reshape(-1), "maskmem_tpos_enc": model.maskmem_tpos_enc.reshape(model.cfg.num_maskmem, -1),
           "mask_downsample.weight": model.mask_downsample.weight, "mask_downsample.bias": model.mask_downsample.bias}
    if isinstance(model.obj_ptr_tpos_proj, nn.Linear):
        out["obj_ptr_tpos_proj.weight"] = model.obj_ptr_tpos_proj.weight
        out["obj_ptr_tpos_proj.bias"] = model.obj_ptr_tpos_proj.bias
    if hasattr(model, "no_obj_ptr"):
        out["no_obj_ptr"] = model.no_obj_ptr.reshape(-1)
    return {k: v.detach().float().cpu().numpy() for k, v in out.items()}


def manifest(model: Sam2, name: str) -> dict:
    """What the runtime needs to know about the graphs and the model."""
    cfg = model.cfg
    dec = cfg.mask_decoder
    return {
        "format": FORMAT_VERSION,
        "model": name,
        "image_size": cfg.image_size,
        "mask_input_size": list(model.sam_prompt_encoder.mask_input_size),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "pred_obj_scores": dec.pred_obj_scores,
        "fixed_no_obj_ptr": bool(cfg.mask_decoder.pred_obj_scores and cfg.fixed_no_obj_ptr),
        "dynamic_multimask_via_stability": dec.dynamic_multimask_via_stability,
        "dynamic_multimask_stability_delta": dec.dynamic_multimask_stability_delta,
        "dynamic_multimask_stability_thresh": dec.dynamic_multimask_stability_thresh,
        "use_multimask_token_for_obj_ptr": dec.use_multimask_token_for_obj_ptr,
        "no_obj_score": NO_OBJ_SCORE,
        "graphs": {name: f"{name}.onnx" for name in GRAPHS},
        "config": asdict(cfg),
    }


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict | None = None) -> None:
    """One graph through torch.export (shapes are traced symbolically, not frozen)."""
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_shapes=dynamic,
                      opset_version=OPSET, dynamo=True, external_data=False, verbose=False)


def _clear_rope_caches(model: Sam2) -> None:
    """RoPE frequency caches filled while tracing hold traced values: start and end empty."""
    for module in model.modules():
        if isinstance(getattr(module, "_freqs", None), dict):
            module._freqs.clear()


@torch.inference_mode(False)
@torch.no_grad()
def export_onnx(model: Sam2, out: Path, name: str, int8: bool = False) -> Path:
    """Write the graphs, manifest.json and params.npz of `model` into the folder `out`;
    `int8`: also the image encoder with int8 weights (onnxruntime's dynamic quantization)."""
    model = model.eval().float().cpu()
    _clear_rope_caches(model)
    cfg = model.cfg
    s, e = cfg.image_size, cfg.image_embedding_size
    c, c_mem = cfg.prompt_embed_dim, cfg.memory_encoder.out_dim
    torch.manual_seed(0)  # the example inputs (the graphs do not depend on them)
    image = torch.randn(1, 3, s, s)
    enc = ImageEncoderGraph(model).eval()
    vision, pos, fine0, fine1 = enc(image)
    _export(enc, (image,), out / "image_encoder.onnx", ["image"], ["vision_feats", "vision_pos", "fine0", "fine1"])

    m = model.sam_prompt_encoder.mask_input_size
    args = (vision, fine0, fine1, torch.rand(2, 3, 2) * s, torch.tensor([[1, 0, -1], [2, 3, -1]], dtype=torch.int32),
            torch.randn(2, 1, *m), torch.tensor([1.0, 0.0]))
    n, p = torch.export.Dim("n", min=1, max=1024), torch.export.Dim("points", min=0, max=4096)
    _export(PromptDecoderGraph(model).eval(), args, out / "prompt_decoder.onnx",
            ["image_embed", "fine0", "fine1", "point_coords", "point_labels", "mask_input", "has_mask_input"],
            ["masks", "iou_scores", "object_score_logits", "obj_ptrs"],
            {"image_embed": None, "fine0": None, "fine1": None, "point_coords": {0: n, 1: p}, "point_labels": {0: n, 1: p},
             "mask_input": {0: n}, "has_mask_input": {0: n}})

    args = (vision, torch.randn(1, 1, s, s), torch.ones(1, 1), torch.ones(1))
    memory, _ = MemoryEncoderGraph(model).eval()(*args)
    _export(MemoryEncoderGraph(model).eval(), args, out / "memory_encoder.onnx",
            ["vision_feats", "high_res_masks", "object_score_logits", "binarize"], ["maskmem_features", "maskmem_pos_enc"])

    per_frame = memory.shape[1] if memory.dim() == 3 else memory.shape[-2] * memory.shape[-1]  # tokens of one memory frame
    split = c // c_mem  # tokens of one object pointer
    frames, pointers = torch.export.Dim("frames", min=1, max=64), torch.export.Dim("pointers", min=0, max=64)
    args = (vision, pos, torch.randn(1, 2 * per_frame, c_mem), torch.randn(1, 2 * per_frame, c_mem),
            torch.randn(1, 3 * split, c_mem), torch.randn(1, 3 * split, c_mem))
    _export(MemoryAttentionGraph(model).eval(), args, out / "memory_attention.onnx",
            ["vision_feats", "vision_pos", "memory", "memory_pos", "pointers", "pointers_pos"], ["conditioned"],
            {"vision_feats": None, "vision_pos": None, "memory": {1: per_frame * frames}, "memory_pos": {1: per_frame * frames},
             "pointers": {1: split * pointers}, "pointers_pos": {1: split * pointers}})
    _clear_rope_caches(model)

    np.savez(out / "params.npz", **_params(model))
    info = manifest(model, name)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(out / "image_encoder.onnx"), str(out / "image_encoder.int8.onnx"), weight_type=QuantType.QInt8)
        info["graphs"]["image_encoder_int8"] = "image_encoder.int8.onnx"
    info.update(memory_frame_tokens=per_frame, pointer_tokens=split, embedding_size=e,
                tracker=asdict(default_tracker_options(canonical_name(name))))
    (out / "manifest.json").write_text(json.dumps(info, indent=1))
    return out
