"""The SAM 2 training losses: focal + dice on masks, L1 on predicted IoU, BCE on object score.

The paper weighs them 20 : 1 : 1 : 1. With several candidate masks only the one with the
lowest segmentation loss gets the mask losses; the IoU of that one, or of every candidate
(SAM 2's recipe supervises all: inference picks a candidate by its predicted IoU, on the
first click and on every tracked frame). Mask and IoU losses apply only where the object
is present, the object-score loss everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

WEIGHTS = {"focal": 20.0, "dice": 1.0, "iou": 1.0, "object": 1.0}


def sigmoid_focal_loss(logits: Tensor, target: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Focal loss per mask, averaged over pixels: (B, M, H, W) -> (B, M)."""
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.flatten(2).mean(-1)


def dice_loss(logits: Tensor, target: Tensor) -> Tensor:
    """1 - Dice coefficient per mask: (B, M, H, W) -> (B, M)."""
    prob = logits.sigmoid().flatten(2)
    target = target.flatten(2)
    numerator = 2 * (prob * target).sum(-1)
    denominator = prob.sum(-1) + target.sum(-1)
    return 1 - (numerator + 1) / (denominator + 1)


@dataclass
class LossTerms:
    focal: Tensor
    dice: Tensor
    iou: Tensor
    object: Tensor
    # The image embedding's mean token norm in this clip (not a loss; the trainer caps it).
    embedding_norm: Tensor | None = None
    # How far prompted answers without memory moved from an anchor model's, weighted
    # (learning without forgetting; None when no anchor is given).
    anchor: Tensor | None = None
    # How far the frames' token correspondences moved from their pixels', weighted
    # (appearance_loss; None when not asked for).
    appearance: Tensor | None = None
    # How far memory attention's object tokens look off the memories' object and the
    # background's off their background, weighted (attention_loss; None when not asked for).
    attention: Tensor | None = None

    @property
    def total(self) -> Tensor:
        total = sum(WEIGHTS[k] * getattr(self, k) for k in WEIGHTS)
        for extra in (self.anchor, self.appearance, self.attention):
            if extra is not None:
                total = total + extra
        return total  # type: ignore[return-value]


def anchor_loss(student_masks: Tensor, student_iou: Tensor, anchor_masks: Tensor, anchor_iou: Tensor) -> Tensor:
    """How far answers moved from an anchor model's to the same prompt, per sample (B,):
    the KL divergence of every candidate's pixel probabilities from the anchor's, and the
    L1 distance of their predicted IoUs; 0 when they agree."""
    p = anchor_masks.sigmoid()
    kl = F.binary_cross_entropy_with_logits(student_masks, p, reduction="none") - F.binary_cross_entropy_with_logits(anchor_masks, p, reduction="none")
    return kl.flatten(1).mean(1) + (student_iou - anchor_iou).abs().mean(1)


def appearance_loss(vision: Tensor, frames: Tensor, temperature: float = 0.1) -> Tensor:
    """How far the image features' correspondences are from the pixels' (a scalar, 0 when equal).

    vision (B, T, C, h, w) stride-s features, frames (B, T, 3, S, S) the images. Each token
    of frames 1.. is matched to frame 0's tokens by a softmax over cosine similarities, as
    memory attention matches a frame to a memory; the loss is KL(pixel match || feature
    match), the pixel match made with the tokens' colour thumbnails (4 x 4 pixels each of
    the normalised frames) as the target.
    Features trained only through masks drift to what separates objects from the training
    backgrounds and forget what each one looks like: matched as they are, they find an
    object on a new photo worse than its pixels do (scripts/diagnose_features.py).
    """
    b, t, c, h, w = vision.shape
    if t < 2:
        return vision.new_zeros(())
    thumbs = F.adaptive_avg_pool2d(frames.flatten(0, 1).float(), (4 * h, 4 * w))
    thumbs = F.pixel_unshuffle(thumbs, 4).unflatten(0, (b, t))  # (B, T, 48, h, w)

    def match(x: Tensor) -> Tensor:  # (B, T-1, h*w, h*w) log-probabilities of frame-0 tokens
        with torch.autocast(x.device.type, enabled=False):  # bf16 similarities would blur the softmax
            x = x.float().flatten(3)  # (B, T, D, N)
            x = F.normalize(x - x.mean(dim=3, keepdim=True), dim=2)  # each frame's mean token dropped: what a whole image shares
            sim = torch.einsum("bdm,btdn->btnm", x[:, 0], x[:, 1:]) / temperature
            return sim.log_softmax(dim=-1)

    with torch.no_grad():
        target = match(thumbs).exp()
    return F.kl_div(match(vision), target, reduction="none").sum(-1).mean()


def carried_labels(weights: Tensor, key_object: Tensor) -> Tensor:
    """(B, N): the object label a cross-attention (B, heads, N, M + P) carries to each query
    from M labelled spatial memory tokens (B, M): its head-averaged weight on the object
    over its weight on all spatial memory (the P pointer tokens left out)."""
    spatial = weights[..., : key_object.shape[1]].float().mean(1)  # (B, N, M)
    return (spatial @ key_object.float()[:, :, None])[..., 0] / spatial.sum(-1).clamp_min(1e-12)


def attention_loss(weights: Tensor, query_object: Tensor, key_object: Tensor) -> Tensor:
    """How far memory attention is from carrying each token's label over from the memories,
    per clip (B,): 0 when object tokens attend only to the memories' object and background
    tokens only to their background.

    weights (B, heads, N, M + P): one cross-attention's probabilities over M spatial memory
    tokens and P pointer tokens (left out: they hold no place); query_object (B, N) and
    key_object (B, M): the share of each token the object covers. The label the attention
    carries to a token, its head-averaged weight on object memory over its weight on all
    memory, is scored by cross-entropy against the token's own, each token counted by its
    object and background shares and the object's side weighted as much as the
    background's (an object is a few tokens of hundreds). Clips with less than half a
    token of object in the frame or in the memory score 0.
    """
    carried = carried_labels(weights, key_object).clamp(1e-4, 1 - 1e-4)
    obj = query_object.float()
    on_object = -(obj * carried.log()).sum(1) / obj.sum(1).clamp_min(1e-6)
    on_background = -((1 - obj) * (1 - carried).log()).sum(1) / (1 - obj).sum(1).clamp_min(1e-6)
    valid = (obj.sum(1) >= 0.5) & (key_object.sum(1) >= 0.5)
    return valid.float() * (on_object + on_background) / 2


def mask_losses(
    mask_logits: Tensor, iou_pred: Tensor, object_logits: Tensor, target: Tensor, reduce: bool = True, all_iou: bool = False
) -> LossTerms:
    """Losses of one frame: mask_logits (B, M, h, w), iou_pred (B, M), object_logits (B, 1), target (B, 1, h, w).

    Reduced: mask terms averaged over the samples where the object is present; else each
    term per sample, (B,), with the mask terms 0 where it is absent.
    """
    target = target.float()
    target_m = target.expand_as(mask_logits)
    focal = sigmoid_focal_loss(mask_logits, target_m)
    dice = dice_loss(mask_logits, target_m)
    best = (WEIGHTS["focal"] * focal + WEIGHTS["dice"] * dice).argmin(dim=1)  # (B,)
    rows = torch.arange(mask_logits.shape[0], device=mask_logits.device)
    with torch.no_grad():
        pred = mask_logits > 0
        inter = (pred & (target_m > 0.5)).flatten(2).sum(-1).float()
        union = (pred | (target_m > 0.5)).flatten(2).sum(-1).float()
        actual_iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    present = (target.flatten(1).sum(-1) > 0).float()  # (B,)
    per_sample = LossTerms(
        focal=focal[rows, best] * present,
        dice=dice[rows, best] * present,
        iou=((iou_pred - actual_iou).abs().mean(1) if all_iou else (iou_pred[rows, best] - actual_iou[rows, best]).abs()) * present,
        object=F.binary_cross_entropy_with_logits(object_logits[:, 0], present, reduction="none"),
    )
    if not reduce:
        return per_sample
    denom = present.sum().clamp(min=1.0)
    return LossTerms(
        focal=per_sample.focal.sum() / denom,
        dice=per_sample.dice.sum() / denom,
        iou=per_sample.iou.sum() / denom,
        object=per_sample.object.mean(),
    )
