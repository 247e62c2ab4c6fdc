"""The network as ONNX graphs for masklet.runtime (onnxruntime and numpy, no torch).

Each graph is one block of the paper with fixed inputs, so the runtime's numpy code
holds all the logic that branches: which prompts, which candidate, which memories.
- image_encoder: a normalised (1, 3, S, S) image -> the stride-16 features and their
  position encoding, and the two fine levels already projected for the decoder;
- prompt_decoder: prompt encoder + mask decoder for N prompt sets on one image: every
  candidate mask (the first is the single-mask output), their IoU scores, the object
  score and each candidate's object pointer; the mask input is always an input, used
  where `has_mask_input` is 1 (no `None` branch frozen at trace time).
`manifest.json` says what the runtime needs (sizes, normalisation, the decoder's
choices) and `params.npz` holds the few learned tensors used outside the graphs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..model import Sam2
from ..model.sam2 import NO_OBJ_SCORE
from ..inference.transforms import IMAGENET_MEAN, IMAGENET_STD

OPSET = 18
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


def _params(model: Sam2) -> dict[str, np.ndarray]:
    """Learned tensors the runtime uses outside the graphs."""
    out = {"no_mem_embed": model.no_mem_embed.reshape(-1)}
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
        "graphs": {"image_encoder": "image_encoder.onnx", "prompt_decoder": "prompt_decoder.onnx"},
    }


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict | None = None) -> None:
    """One graph through torch.export (shapes are traced symbolically, not frozen)."""
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_shapes=dynamic,
                      opset_version=OPSET, dynamo=True, external_data=False, verbose=False)


@torch.inference_mode(False)
@torch.no_grad()
def export_onnx(model: Sam2, out: Path, name: str) -> Path:
    """Write the graphs, manifest.json and params.npz of `model` into the folder `out`."""
    model = model.eval().float().cpu()
    out.mkdir(parents=True, exist_ok=True)
    s = model.cfg.image_size
    enc = ImageEncoderGraph(model)
    image = torch.randn(1, 3, s, s)
    vision, _, fine0, fine1 = enc(image)
    _export(enc, (image,), out / "image_encoder.onnx", ["image"], ["vision_feats", "vision_pos", "fine0", "fine1"], {})
    m = model.sam_prompt_encoder.mask_input_size
    args = (vision, fine0, fine1, torch.rand(2, 3, 2) * s, torch.tensor([[1, 0, -1], [2, 3, -1]], dtype=torch.int32),
            torch.randn(2, 1, *m), torch.tensor([1.0, 0.0]))
    n, p = torch.export.Dim("n", min=1, max=1024), torch.export.Dim("points", min=0, max=4096)
    _export(PromptDecoderGraph(model), args, out / "prompt_decoder.onnx",
            ["image_embed", "fine0", "fine1", "point_coords", "point_labels", "mask_input", "has_mask_input"],
            ["masks", "iou_scores", "object_score_logits", "obj_ptrs"],
            {"image_embed": None, "fine0": None, "fine1": None, "point_coords": {0: n, 1: p}, "point_labels": {0: n, 1: p},
             "mask_input": {0: n}, "has_mask_input": {0: n}})
    np.savez(out / "params.npz", **_params(model))
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest(model, name), indent=1))
    os.replace(tmp, out / "manifest.json")
    return out
