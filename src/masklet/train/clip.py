"""One training clip through the network, as in the SAM 2 recipe.

The first frame gets a prompt (its mask, a box or clicks, by sampled probabilities);
every later frame is segmented from memory, and some get a corrective click sampled from
the error of the answer they would have given without it. Memories are built exactly as
at inference, but in float32 and with gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..inference.memory_bank import recent_memory_frames
from ..model import Sam2
from .losses import LossTerms, mask_losses


@dataclass(frozen=True)
class PromptProbabilities:
    mask: float = 0.5  # the first frame's mask as the prompt
    box: float = 0.25  # else a box (the rest: 1 to 3 clicks)
    correct: float = 0.25  # each later frame: a corrective click
    # Clicked or boxed first frames are then refined this many times, each round adding a
    # click at the error of the previous answer (SAM's interactive training loop), so the
    # decoder learns to follow clicks rather than the salient object.
    refine_clicks: int = 0


def sample_click(region: Tensor, generator: torch.Generator) -> Tensor | None:
    """A uniformly random (x, y) pixel of a boolean (H, W) region, or None if empty."""
    ys, xs = torch.nonzero(region, as_tuple=True)
    if len(ys) == 0:
        return None
    i = int(torch.randint(len(ys), (1,), generator=generator))
    return torch.tensor([float(xs[i]), float(ys[i])])


def box_of(mask: Tensor, generator: torch.Generator, jitter: float = 0.05) -> Tensor:
    """The bounding box (x1, y1, x2, y2) of a mask, with a little noise."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    box = torch.tensor([xs.min(), ys.min(), xs.max(), ys.max()], dtype=torch.float32)
    size = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
    return box + jitter * size * torch.randn(4, generator=generator)


def clip_losses(
    model: Sam2, frames: Tensor, masks: Tensor, generator: torch.Generator, probs: PromptProbabilities = PromptProbabilities()
) -> LossTerms:
    """Mean losses over a clip: frames (T, 3, S, S) normalised, masks (T, 1, S, S) in {0, 1}."""
    cfg = model.cfg
    num_frames = frames.shape[0]
    low = cfg.low_res_mask_size
    targets = F.interpolate(masks.float(), size=(low, low), mode="area") > 0.5  # (T, 1, low, low)
    feats = model.forward_image(frames)
    vision, pos = feats.vision_features, feats.vision_pos_enc[-1]
    high_res = feats.backbone_fpn[:-1]

    outputs: list = []
    memories: list[tuple[Tensor, Tensor]] = []
    terms: list[LossTerms] = []
    for t in range(num_frames):
        hr = [f[t : t + 1] for f in high_res]
        if t == 0:
            rounds = _prompted_first_frame(model, vision[:1], hr, masks[0, 0] > 0.5, targets[0, 0], generator, probs)
            terms += [mask_losses(o.all_masks, o.iou_scores, o.object_score_logits, targets[:1].float()) for o in rounds[:-1]]
            out, from_points = rounds[-1], True
        else:
            memory = _memory(model, t, memories, outputs, num_frames)
            pix = model.condition_on_memory(vision[t : t + 1], pos[t : t + 1], memory)
            out = model.forward_sam_heads(pix, None, None, hr, model.use_multimask(False, 0))
            from_points = False
            if torch.rand((), generator=generator) < probs.correct:
                click = _corrective_click(out.low_res_masks.detach(), targets[t, 0], cfg.image_size, generator)
                if click is not None:
                    out = model.forward_sam_heads(pix, click, out.low_res_masks.detach().clamp(-32, 32), hr, False)
                    from_points = True
        terms.append(mask_losses(out.all_masks, out.iou_scores, out.object_score_logits, targets[t : t + 1].float()))
        features, mem_pos = model.encode_memory(vision[t : t + 1], out.high_res_masks, out.object_score_logits, from_points)
        memories.append((features, mem_pos))
        outputs.append(out)
    means = (torch.stack([getattr(x, k) for x in terms]).mean() for k in ("focal", "dice", "iou", "object"))
    return LossTerms(*means, embedding_norm=vision.detach().norm(dim=1).mean())


def _prompted_first_frame(model: Sam2, vision: Tensor, hr: list[Tensor], mask: Tensor, target_low: Tensor, generator, probs) -> list:
    """The prompted frame's answers: one for a mask prompt, else one per click round."""
    r = float(torch.rand((), generator=generator))
    if r < probs.mask or not mask.any():
        return [model.use_mask_as_output(vision, hr, mask[None, None].float())]
    if r < probs.mask + probs.box:
        coords = box_of(mask, generator).view(1, 2, 2)
        labels = torch.tensor([[2, 3]], dtype=torch.int32)
    else:
        n = int(torch.randint(1, 4, (1,), generator=generator))
        coords = torch.stack([sample_click(mask, generator) for _ in range(n)])[None]
        labels = torch.ones(1, n, dtype=torch.int32)
    coords, labels = coords.to(vision.device), labels.to(vision.device)
    pix = model.condition_on_memory(vision, torch.zeros_like(vision), None)
    answers = [model.forward_sam_heads(pix, (coords, labels), None, hr, model.use_multimask(True, labels.shape[1]))]
    for _ in range(probs.refine_clicks):
        previous = answers[-1].low_res_masks.detach()
        click = _corrective_click(previous, target_low, model.cfg.image_size, generator)
        if click is None:
            break
        coords, labels = torch.cat([coords, click[0]], 1), torch.cat([labels, click[1]], 1)
        answers.append(model.forward_sam_heads(pix, (coords, labels), previous.clamp(-32, 32), hr, False))
    return answers


def _corrective_click(pred_low: Tensor, target: Tensor, image_size: int, generator) -> tuple[Tensor, Tensor] | None:
    pred = pred_low[0, 0] > 0
    missed, extra = target & ~pred, pred & ~target
    positive = missed.sum() >= extra.sum()
    click = sample_click(missed if positive else extra, generator)
    if click is None:
        return None
    scale = image_size / target.shape[-1]
    coords = ((click + 0.5) * scale).view(1, 1, 2).to(pred_low.device)
    return coords, torch.tensor([[1 if positive else 0]], dtype=torch.int32, device=pred_low.device)


def _memory(model: Sam2, t: int, memories: list, outputs: list, num_frames: int):
    """Frame 0 as the prompted frame plus the most recent frames, with pointers."""
    cfg = model.cfg
    slots = [(0, 0)] + [(t_pos, f) for t_pos, f in recent_memory_frames(t, cfg.num_maskmem, False) if 0 < f < t]
    mem = [(t_pos, memories[f][0], memories[f][1]) for t_pos, f in slots]
    max_ptrs = min(num_frames, cfg.max_obj_ptrs_in_encoder)
    pointers = [(t, outputs[0].obj_ptr)] + [(d, outputs[t - d].obj_ptr) for d in range(1, min(t, max_ptrs)) if t - d > 0]
    return model.memory_tokens(mem, pointers, max_ptrs - 1)
