"""Training clips through the network (one, or a batch together), as in the SAM 2 recipe.

The first frame gets a prompt (its mask, a box or clicks, by sampled probabilities);
every later frame is segmented from memory, and some get a corrective click sampled from
the error of the answer they would have given without it. Memories are chosen by the
rule inference follows (memory_bank.select: the temporal stride, the cap on prompted
frames, past-only pointers) and built as at inference, but in float32 and with gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..inference.memory_bank import select
from ..model import Sam2
from ..model.prompt_encoder import NOT_A_POINT
from .losses import LossTerms, anchor_loss, appearance_loss, attention_loss, mask_losses


@dataclass(frozen=True)
class PromptProbabilities:
    mask: float = 0.5  # the first frame's mask as the prompt
    box: float = 0.25  # else a box (the rest: 1 to 3 clicks)
    correct: float = 0.25  # each later frame: a corrective click
    # Clicked or boxed first frames are then refined this many times, each round adding a
    # click at the error of the previous answer (SAM's interactive training loop), so the
    # decoder learns to follow clicks rather than the salient object.
    refine_clicks: int = 0


class DecoderPrompt(NamedTuple):
    """What the decoder answered on a prompted frame without memory (for an anchor to answer too)."""

    points: tuple[Tensor, Tensor]  # (coords (1, N, 2), labels (1, N))
    mask_input: Tensor | None  # the previous round's low-res logits
    multimask: bool


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
    model: Sam2,
    frames: Tensor,
    masks: Tensor,
    generator: torch.Generator,
    probs: PromptProbabilities = PromptProbabilities(),
    all_iou: bool = False,
    anchor: Sam2 | None = None,
    anchor_weight: float = 1.0,
    appearance_weight: float = 0.0,
    attention_weight: float = 0.0,
) -> LossTerms:
    """Mean losses over a batch of clips: frames (B, T, 3, S, S) normalised, masks (B, T, 1, S, S)
    in {0, 1} (or one clip without the B axis).

    The clips run through the network together; only the prompted first frames, whose
    prompt kinds differ, go one clip at a time. The mean is over every (clip, answer), so a
    batch's loss is the mean of its clips' losses when they give as many answers each.
    `all_iou`: supervise every candidate's predicted IoU, not only the best one's.
    `anchor`: a frozen model whose answers to the same clicks and boxes on the first frames
    (no memory) the answers are kept close to, with `anchor_weight` (learning without
    forgetting: the tracked frames learn, the answers to prompts stay).
    `appearance_weight`: > 0 adds losses.appearance_loss on the stride-16 features, so
    they keep matching a frame's tokens to the first frame's as its pixels do.
    `attention_weight`: > 0 adds losses.attention_loss of every memory cross-attention on
    every tracked frame, so memory attention learns to find the object by matching the
    frame to its memories (the truth's labels carried token to token).
    """
    if frames.dim() == 4:
        frames, masks = frames[None], masks[None]
    cfg = model.cfg
    b, num_frames = frames.shape[:2]
    low = cfg.low_res_mask_size
    targets = F.interpolate(masks.flatten(0, 1).float(), size=(low, low), mode="area") > 0.5
    targets = targets.unflatten(0, (b, num_frames))  # (B, T, 1, low, low)
    feats = model.forward_image(frames.flatten(0, 1))
    vision = feats.vision_features.unflatten(0, (b, num_frames))  # (B, T, C, h, w)
    pos = feats.vision_pos_enc[-1].unflatten(0, (b, num_frames))
    high_res = [f.unflatten(0, (b, num_frames)) for f in feats.backbone_fpn[:-1]]

    pointers: list[Tensor] = []  # (B, C) per frame
    memories: list[tuple[Tensor, Tensor]] = []
    terms: list[LossTerms] = []  # each (B,) or (1,) per-clip values
    drift: list[Tensor] = []  # anchor losses of the prompted rounds, (1,) each
    if anchor is not None:
        with torch.no_grad():
            anchor_feats = anchor.forward_image(frames[:, 0])
    looks = AttentionRecorder(model) if attention_weight > 0 else None
    spent: list[Tensor] = []  # attention losses (B,) per tracked frame and layer
    if looks is not None:
        h, w = vision.shape[-2:]
        shares = F.interpolate(masks.flatten(0, 1).float(), size=(h, w), mode="area").flatten(1).unflatten(0, (b, num_frames))
    for t in range(num_frames):
        hr = [f[:, t] for f in high_res]
        if t == 0:
            answers = []
            for i in range(b):
                rounds = _prompted_first_frame(
                    model, vision[i : i + 1, 0], [f[i : i + 1] for f in hr], masks[i, 0, 0] > 0.5, targets[i, 0, 0], generator, probs
                )
                terms += [_per_clip_losses(o, targets[i : i + 1, 0], all_iou) for o, _ in rounds]
                answers.append(rounds[-1][0])
                if anchor is not None:
                    drift += [_anchor_drift(anchor, anchor_feats, i, o, prompt) for o, prompt in rounds if prompt is not None]
            high_res_masks = torch.cat([o.high_res_masks for o in answers])
            object_logits = torch.cat([o.object_score_logits for o in answers])
            pointers.append(torch.cat([o.obj_ptr for o in answers]))
            from_points = True
        else:
            memory, remembered = memory_for(model, t, memories, pointers, num_frames)
            if looks is None:
                pix = model.condition_on_memory(vision[:, t], pos[:, t], memory)
            else:
                with looks:
                    pix = model.condition_on_memory(vision[:, t], pos[:, t], memory)
                keys = torch.cat([shares[:, f] for f in remembered], dim=1)
                spent += [attention_loss(wts, shares[:, t], keys) for wts in looks.weights]
            out = model.forward_sam_heads(pix, None, None, hr, model.use_multimask(False, 0))
            from_points = False
            if torch.rand((), generator=generator) < probs.correct:
                previous = out.low_res_masks.detach()
                clicks = _corrective_clicks(previous, targets[:, t, 0], cfg.image_size, generator)
                if clicks is not None:
                    out = model.forward_sam_heads(pix, clicks, previous.clamp(-32, 32), hr, False)
                    from_points = True
            terms.append(_per_clip_losses(out, targets[:, t], all_iou))
            high_res_masks, object_logits = out.high_res_masks, out.object_score_logits
            pointers.append(out.obj_ptr)
        features, mem_pos = model.encode_memory(vision[:, t], high_res_masks, object_logits, from_points)
        memories.append((features, mem_pos))
    means = (torch.cat([getattr(x, k) for x in terms]).mean() for k in ("focal", "dice", "iou", "object"))
    kept = None
    if anchor is not None:
        kept = anchor_weight * torch.cat(drift).mean() if drift else vision.new_zeros(())
    look = appearance_weight * appearance_loss(vision, frames) if appearance_weight > 0 else None
    attend = attention_weight * torch.cat(spent).mean() if spent else None
    return LossTerms(*means, embedding_norm=vision.detach().norm(dim=2).mean(), anchor=kept, appearance=look, attention=attend)


class AttentionRecorder:
    """While entered, keeps the probabilities of each memory attention layer's cross-attention
    (with their gradients), in layer order."""

    def __init__(self, model: Sam2) -> None:
        if model.cfg.spatial_perceiver is not None:
            raise ValueError("attention_weight needs memories of one token per place (SAM 2), not compressed ones (EdgeTAM)")
        self.modules = [layer.cross_attn_image for layer in model.memory_attention.layers]
        self.weights: list[Tensor] = []
        self._hooks: list = []

    def __enter__(self) -> AttentionRecorder:
        self.weights = []

        def record(module, args, kwargs, output) -> None:
            self.weights.append(module.weights(args[0], args[1], kwargs.get("num_k_exclude_rope", 0)))

        self._hooks = [m.register_forward_hook(record, with_kwargs=True) for m in self.modules]
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self._hooks:
            hook.remove()


def _answer(model: Sam2, pix: Tensor, hr: list[Tensor], prompt: DecoderPrompt):
    return model.forward_sam_heads(pix, prompt.points, prompt.mask_input, hr, prompt.multimask)


def _anchor_drift(anchor: Sam2, feats, i: int, answer, prompt: DecoderPrompt) -> Tensor:
    """The anchor loss of one prompted answer of clip i: the anchor model answers the same
    prompt on the same frame, without memory."""
    with torch.no_grad():
        vision = feats.vision_features[i : i + 1]
        pix = anchor.condition_on_memory(vision, torch.zeros_like(vision), None)
        ref = _answer(anchor, pix, [f[i : i + 1] for f in feats.backbone_fpn[:-1]], prompt)
    return anchor_loss(answer.all_masks, answer.iou_scores, ref.all_masks, ref.iou_scores)


def _per_clip_losses(out, target: Tensor, all_iou: bool) -> LossTerms:
    return mask_losses(out.all_masks, out.iou_scores, out.object_score_logits, target.float(), reduce=False, all_iou=all_iou)


def _prompted_first_frame(model: Sam2, vision: Tensor, hr: list[Tensor], mask: Tensor, target_low: Tensor, generator, probs) -> list:
    """The prompted frame's answers, each with its DecoderPrompt: one for a mask prompt
    (prompt None: no decoder answers it), else one per click round."""
    r = float(torch.rand((), generator=generator))
    if r < probs.mask or not mask.any():
        return [(model.use_mask_as_output(vision, hr, mask[None, None].float()), None)]
    if r < probs.mask + probs.box:
        coords = box_of(mask, generator).view(1, 2, 2)
        labels = torch.tensor([[2, 3]], dtype=torch.int32)
    else:
        n = int(torch.randint(1, 4, (1,), generator=generator))
        coords = torch.stack([sample_click(mask, generator) for _ in range(n)])[None]
        labels = torch.ones(1, n, dtype=torch.int32)
    coords, labels = coords.to(vision.device), labels.to(vision.device)
    pix = model.condition_on_memory(vision, torch.zeros_like(vision), None)
    prompt = DecoderPrompt((coords, labels), None, model.use_multimask(True, labels.shape[1]))
    answers = [(_answer(model, pix, hr, prompt), prompt)]
    for _ in range(probs.refine_clicks):
        previous = answers[-1][0].low_res_masks.detach()
        click = _corrective_click(previous, target_low, model.cfg.image_size, generator)
        if click is None:
            break
        coords, labels = torch.cat([coords, click[0]], 1), torch.cat([labels, click[1]], 1)
        prompt = DecoderPrompt((coords, labels), previous.clamp(-32, 32), False)
        answers.append((_answer(model, pix, hr, prompt), prompt))
    return answers


def _corrective_click(pred_low: Tensor, target: Tensor, image_size: int, generator) -> tuple[Tensor, Tensor] | None:
    """One click at the larger error of a (1, 1, h, w) answer: positive where it missed."""
    pred = pred_low[0, 0] > 0
    missed, extra = target & ~pred, pred & ~target
    positive = missed.sum() >= extra.sum()
    click = sample_click(missed if positive else extra, generator)
    if click is None:
        return None
    scale = image_size / target.shape[-1]
    coords = ((click + 0.5) * scale).view(1, 1, 2).to(pred_low.device)
    return coords, torch.tensor([[1 if positive else 0]], dtype=torch.int32, device=pred_low.device)


def _corrective_clicks(pred_low: Tensor, targets: Tensor, image_size: int, generator) -> tuple[Tensor, Tensor] | None:
    """A corrective click for each clip of a batch (B, 1, h, w); a clip with no error gets
    "not a point". None when no clip has an error."""
    clicks = [_corrective_click(pred_low[i : i + 1], targets[i], image_size, generator) for i in range(len(targets))]
    if all(c is None for c in clicks):
        return None
    blank = (pred_low.new_zeros(1, 1, 2), torch.full((1, 1), NOT_A_POINT, dtype=torch.int32, device=pred_low.device))
    clicks = [c if c is not None else blank for c in clicks]
    return torch.cat([c[0] for c in clicks]), torch.cat([c[1] for c in clicks])


def memory_for(model: Sam2, t: int, memories: list, pointers: list[Tensor], num_frames: int):
    """Frame t's memory bank, chosen by the rule inference follows: frame 0 is the clip's
    prompted frame, frames 1 .. t - 1 are tracked. Also the frames it holds, in token order."""
    chosen = select(model.cfg, t, [0], lambda f: 0 < f < t, num_frames)
    frames = list(chosen.cond_frames) + [f for _, f in chosen.recent]  # in the order of the memory's tokens
    mem = [(0, *memories[f]) for f in chosen.cond_frames] + [(t_pos, *memories[f]) for t_pos, f in chosen.recent]
    return model.memory_tokens(mem, [(d, pointers[f]) for d, f in chosen.pointers], chosen.max_ptr_distance), frames
