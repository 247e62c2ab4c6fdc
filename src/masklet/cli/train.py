"""`masklet train` and `masklet export`: training on a DAVIS-layout dataset, and its weights as safetensors."""

from __future__ import annotations

import math
from pathlib import Path

import click

from . import main


@main.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "config", default="masklet-nano", show_default=True)
@click.option("--init", default=None, help="start from this checkpoint (or 'standin'); default: random init")
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True, help="peak learning rate (cosine decay after warm-up)")
@click.option("--warmup", type=click.IntRange(min=0), default=0, show_default=True, help="linear warm-up steps")
@click.option("--clip-len", type=click.IntRange(1, 8), default=8, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="clips per step (per process)")
@click.option("--freeze-image-encoder", is_flag=True)
@click.option("--freeze", multiple=True, metavar="MODULE",
              help="keep this submodule's or parameter's weights as they are (e.g. sam_mask_decoder, or a dotted path such as image_encoder.neck or image_encoder.trunk.pos_embed; repeatable)")
@click.option("--train-only", multiple=True, metavar="MODULE",
              help="keep every weight as it is but this submodule's or parameter's (e.g. sam_mask_decoder.iou_prediction_head; repeatable)")
@click.option("--image-encoder-lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="the image encoder's peak learning rate (default: --lr)")
@click.option("--decoder-lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="the prompt encoder's and mask decoder's peak learning rate (default: --lr)")
@click.option("--multi-object", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="share of clips that start on a frame with several objects (teaches telling them apart)")
@click.option("--mask-prompt", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="share of clips whose first frame is prompted with its mask")
@click.option("--box-prompt", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="share prompted with a box (the rest: 1 to 3 clicks)")
@click.option("--refine-clicks", type=click.IntRange(0, 16), default=0, show_default=True,
              help="corrective clicks added to a clicked or boxed first frame, each trained on")
@click.option("--supervise-all-iou", is_flag=True,
              help="train every candidate mask's predicted IoU, not only the best one's (SAM 2's recipe; inference picks candidates by it)")
@click.option("--anchor", default=None, metavar="CHECKPOINT",
              help="keep the answers to clicks and boxes on frames without memory close to this checkpoint's (learning without forgetting)")
@click.option("--anchor-weight", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="the weight of --anchor's loss beside the paper's")
@click.option("--appearance-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="> 0: keep the image features matching each frame's tokens to the first frame's as the pixels do, "
                   "with this weight")
@click.option("--attention-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="> 0: teach memory attention to carry the object's and the background's labels from the memories' "
                   "tokens to the frame's, with this weight")
@click.option("--reinit", multiple=True, metavar="MODULE",
              help="give this submodule (e.g. sam_mask_decoder) fresh random weights after --init (repeatable)")
@click.option("--embedding-norm", type=click.FloatRange(min=0, min_open=True), default=None,
              help="rescale the image embedding to this mean token norm first, and cap it there while training (the position encoding's is 8)")
@click.option("--augment", is_flag=True, help="mirror clips and jitter their brightness, contrast and saturation")
@click.option("--max-frame-step", type=click.IntRange(min=1), default=1, show_default=True,
              help="clips take every k-th frame, k drawn from 1 to this (objects move k times as far between frames)")
@click.option("--preload", is_flag=True,
              help="decode every frame into memory before training (a GPU trains faster than JPEGs are decoded)")
@click.option("--bf16/--no-bf16", default=None, help="bf16 autocast (default: on where the hardware has it, i.e. CUDA)")
@click.option("--grad-clip", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True)
@click.option("--image-size", type=int, default=None, help="override the model's input size")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--keep-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="also keep the weights every N steps as OUT/step-NNNNNN.pt, to average (0: only last.pt)")
@click.option("--stop-after", type=click.IntRange(min=1), default=None,
              help="end this run after N steps of the schedule (run the same command again to resume)")
def train(dataset: Path, out: Path, config: str, init: str | None, steps: int, lr: float, warmup: int, clip_len: int, batch_size: int,
          freeze_image_encoder: bool, freeze: tuple[str, ...], train_only: tuple[str, ...], image_encoder_lr: float | None, decoder_lr: float | None, multi_object: float, mask_prompt: float, box_prompt: float, refine_clicks: int, supervise_all_iou: bool, anchor: str | None, anchor_weight: float, appearance_weight: float,
          attention_weight: float,
          reinit: tuple[str, ...], embedding_norm: float | None, augment: bool, max_frame_step: int, preload: bool, bf16: bool | None, grad_clip: float, image_size: int | None, seed: int, save_every: int, keep_every: int, stop_after: int | None) -> None:
    """Train or fine-tune on a DAVIS-layout DATASET; checkpoints and losses.csv go to OUT (resumable)."""
    from ..train import PromptProbabilities, TrainConfig
    from ..train import train as run

    for name, value in (("--anchor-weight", anchor_weight), ("--appearance-weight", appearance_weight),
                        ("--attention-weight", attention_weight)):
        if not math.isfinite(value):
            raise click.BadParameter(f"must be a finite number, got {value}", param_hint=name)
    if mask_prompt + box_prompt > 1:
        raise click.BadParameter("--mask-prompt plus --box-prompt must be at most 1", param_hint="--box-prompt")
    prompts = PromptProbabilities(mask=mask_prompt, box=box_prompt, refine_clicks=refine_clicks)
    overrides = {"image_size": image_size} if image_size else {}
    cfg = TrainConfig(steps=steps, lr=lr, warmup_steps=warmup, clip_len=clip_len, batch_size=batch_size, freeze_image_encoder=freeze_image_encoder, freeze=freeze, train_only=train_only, image_encoder_lr=image_encoder_lr, decoder_lr=decoder_lr, multi_object_prob=multi_object, seed=seed, save_every=save_every, keep_every=keep_every, stop_after=stop_after, prompts=prompts,
                      reinit=reinit, embedding_norm=embedding_norm, augment=augment, max_frame_step=max_frame_step, preload=preload, bf16=bf16, grad_clip=grad_clip, supervise_all_iou=supervise_all_iou, anchor=anchor, anchor_weight=anchor_weight, appearance_weight=appearance_weight,
                      attention_weight=attention_weight)
    result = run(config, dataset, out, cfg, init=init, **overrides)
    click.echo(f"step {result.step}: {result.checkpoint}")


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "config", default="masklet-nano", show_default=True, help="the config the checkpoint was trained as")
@click.option("--image-size", type=int, default=None, help="the input size it was trained at, if overridden")
@click.option("--blend-with", default=None, metavar="BASE",
              help="the checkpoint CHECKPOINT was fine-tuned from (a path, or the model's name for its packaged weights), to blend with")
@click.option("--blend", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="write BLEND x CHECKPOINT + (1 - BLEND) x BASE, weight by weight (weight-space ensembling of a fine-tuned model with its start)")
@click.option("--blend-module", multiple=True, metavar="MODULE=W",
              help="another share for one submodule's weights (e.g. sam_mask_decoder=0.5; repeatable)")
@click.option("--average-with", multiple=True, metavar="CHECKPOINT",
              help="write the mean of CHECKPOINT and these, weight by weight (e.g. a run's last kept steps; repeatable)")
def export(checkpoint: Path, out: Path, config: str, image_size: int | None, blend_with: str | None, blend: float,
           blend_module: tuple[str, ...], average_with: tuple[str, ...]) -> None:
    """Write a training CHECKPOINT's model weights (checked by a strict load) as safetensors OUT."""
    from ..build import build_model
    from ..checkpoint import save_safetensors, sha256_of

    shares = _module_shares(blend_module)
    if (blend < 1 or bool(shares)) != (blend_with is not None):
        raise click.BadParameter("--blend below 1 or --blend-module, and --blend-with, go together", param_hint="--blend")
    if average_with and blend_with is not None:
        raise click.BadParameter("average or blend, not both: export the average first, then blend it", param_hint="--average-with")
    overrides = {"image_size": image_size} if image_size else {}
    model = build_model(config, checkpoint, device="cpu", **overrides)  # strict: a wrong config is named
    state = model.state_dict()
    if average_with:  # a running sum: one more checkpoint in memory at a time, whatever the model's size
        for other in average_with:
            for k, v in build_model(config, other, device="cpu", **overrides).state_dict().items():
                if v.is_floating_point():
                    state[k] = state[k] + v
        state = {k: v / (1 + len(average_with)) if v.is_floating_point() else v for k, v in state.items()}
    if blend_with is not None:
        unknown = sorted(m for m in shares if not any(k.startswith(m + ".") for k in state))
        if unknown:
            raise click.BadParameter(f"no weights under {unknown}; the model's submodules are {sorted(n for n, _ in model.named_children())}",
                                     param_hint="--blend-module")
        base = build_model(config, blend_with, device="cpu", **overrides).state_dict()
        for k, v in state.items():
            if v.is_floating_point():
                w = next((w for m, w in shares.items() if k.startswith(m + ".")), blend)
                state[k] = w * v + (1 - w) * base[k]
    save_safetensors(state, out)
    click.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {sha256_of(out)})")


def _module_shares(specs: tuple[str, ...]) -> dict[str, float]:
    """{"sam_mask_decoder": 0.5} from ("sam_mask_decoder=0.5",), each share in (0, 1]."""
    shares = {}
    for spec in specs:
        module, _, value = spec.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not module or not 0 < share <= 1:
            raise click.BadParameter(f"expected MODULE=W with W in (0, 1], got {spec!r}", param_hint="--blend-module")
        shares[module] = share
    return shares
