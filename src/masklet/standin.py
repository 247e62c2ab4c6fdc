"""Deterministic stand-in weights: a pure function of each parameter's key and shape.

No pretrained weights can be downloaded where masklet is tested, so parity with the
reference is checked under these weights instead: any implementation can regenerate
them bit for bit, and they are saved in the official checkpoint format.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_path
from .config import Sam2Config
from .presets import get_config


# Output biases chosen so that stand-in answers are not degenerate: objects count as
# present (positive object score), and the multimask choice prefers a mask of a few
# percent of the image rather than a speck, so mask parity tests compare real areas.
_BIASES = {
    "sam_mask_decoder.pred_obj_score_head.layers.2.bias": [2.0],
    "sam_mask_decoder.iou_prediction_head.layers.2.bias": [0.0, 0.0, 0.0, 1.5],
}


def standin_tensor(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The stand-in value of one parameter, scaled so activations stay in a sane range."""
    seed = zlib.crc32(f"{key}:{'x'.join(map(str, shape))}".encode())
    noise = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    leaf = key.rsplit(".", 1)[-1]
    if key in _BIASES:
        return torch.tensor(_BIASES[key], dtype=torch.float32) + 0.02 * torch.from_numpy(noise)
    if leaf == "num_batches_tracked":
        return torch.tensor(0, dtype=torch.long)
    if leaf == "running_var":
        values = 1.0 + 0.1 * np.abs(noise)  # batch-norm variances must stay positive
    elif key.endswith(("mixer.conv2.bn.weight", "ffn.conv2.bn.weight", "token_mixer.conv.bn.weight", "token_mixer.conv1.bn.weight")):
        values = 0.1 + 0.02 * noise  # residual branches start small, so 20 RepViT blocks keep activations O(1)
    elif leaf == "running_mean":
        values = 0.02 * noise
    elif "gaussian_matrix" in key:
        values = noise  # random Fourier features are N(0, 1) by construction
    elif leaf == "bias":
        values = 0.02 * noise
    elif leaf == "gamma":
        values = 0.1 * noise  # ConvNeXt layer scale
    elif len(shape) == 1:
        values = 1.0 + 0.1 * noise  # LayerNorm scales
    elif key.startswith(("maskmem_tpos_enc", "no_", "image_encoder.trunk.pos_embed")):
        values = 0.02 * noise
    else:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        values = noise / np.sqrt(max(fan_in, 1))
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def standin_state_dict(config: str | Sam2Config) -> dict[str, torch.Tensor]:
    """Stand-in weights for every parameter and buffer of a preset."""
    from .model import Sam2

    cfg = get_config(config)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in Sam2(cfg).state_dict().items()}
    return {k: standin_tensor(k, s) for k, s in shapes.items()}


def save_standin_checkpoint(config: str | Sam2Config, path: str | os.PathLike) -> Path:
    """Write stand-in weights as an official-format `.pt` ({"model": state_dict}), atomically."""
    with atomic_path(path) as tmp:
        torch.save({"model": standin_state_dict(config)}, tmp)
    return Path(path)
