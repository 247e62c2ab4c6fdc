"""Training and fine-tuning on DAVIS-layout data (generated or real), resumable, DDP-ready.

Run in several processes with torchrun (gloo on the CPU, NCCL on GPUs); rank 0 writes
the checkpoints and the CSV log. A checkpoint is written atomically, so an interrupted
run resumes from the last complete one.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import Tensor

from ..atomic import atomic_path
from ..build import build_model
from ..config import Sam2Config
from ..data.davis import list_sequences, read_annotation
from ..errors import BadInput, NotFound
from ..inference.transforms import IMAGENET_MEAN, IMAGENET_STD
from .clip import PromptProbabilities, clip_losses

# Byte to [0, 1] by table: the float32 of x / 255 (in float64) as always, at a third of the cost.
_UNIT = (np.arange(256) / 255.0).astype(np.float32)


def _memory_limit() -> int:
    """Bytes of memory this process may use: the machine's, or its container's if less."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


@dataclass
class _Decoded:
    """One sequence decoded at the input size."""

    rgb: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray  # (N, S, S) uint8 object ids
    ids: list[frozenset[int]]  # the ids on each frame at full resolution (0: background)


class ClipSampler:
    """Random clips of one object from a DAVIS-layout folder, prepared for the model."""

    def __init__(
        self, root: str | os.PathLike, image_size: int, clip_len: int = 8, multi_object_prob: float = 0.0, augment: bool = False,
        max_frame_step: int = 1,
    ) -> None:
        self.root = Path(root)
        self.image_size = image_size
        self.clip_len = clip_len
        # With this probability a clip must start on a frame showing two or more objects,
        # so the prompted object has to be told apart from the others by its memory.
        self.multi_object_prob = multi_object_prob
        # A clip as a whole may be mirrored and have its brightness, contrast and saturation
        # jittered (the SAM 2 recipe's augmentations that keep masks exact), so an image
        # encoder that learns does not learn the few training backgrounds by heart.
        self.augment = augment
        # A clip may take every k-th frame (k drawn from 1..max_frame_step), so objects move
        # k times as far between its frames: where they were is then a poor guess of where
        # they are, and memory attention has to match them by their look.
        if max_frame_step < 1:
            raise BadInput(f"max_frame_step must be at least 1, got {max_frame_step}")
        self.max_frame_step = max_frame_step
        self.sequences = list_sequences(self.root)
        if not self.sequences:
            raise NotFound(f"no sequences under {self.root / 'JPEGImages'}")
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        self._preloaded: dict[str, _Decoded] = {}

    def preload(self, threads: int | None = None) -> None:
        """Decode every frame once, at the input size, into memory (uint8).

        Sampling a clip is then indexing: a GPU trains faster than one process decodes
        JPEGs. Refused before any decoding when the frames would take over half of the
        memory this process may use, counting every process of a torchrun on this machine.
        """
        paths = [self._paths(seq) for seq in self.sequences]
        frames = sum(len(images) for images, _ in paths)
        processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        need = processes * frames * self.image_size**2 * 4  # RGB and a label map, one byte each
        total = _memory_limit()
        if need > total // 2:
            each = f" in each of {processes} processes" if processes > 1 else ""
            raise BadInput(
                f"preloading {frames} frames at {self.image_size} px{each} needs {need / 2**30:.1f} GiB, over half of the "
                f"{total / 2**30:.1f} GiB this machine gives: train without preloading, or on fewer sequences"
            )
        workers = threads or max(1, (os.cpu_count() or 1) // processes)
        with ThreadPoolExecutor(workers) as pool:  # PIL decodes and resizes without the GIL
            self._preloaded = dict(zip(self.sequences, pool.map(self._decode, *zip(*paths))))

    def _paths(self, seq: str) -> tuple[list[Path], list[Path]]:
        images = sorted((self.root / "JPEGImages" / seq).glob("*.jpg"))
        anns = sorted((self.root / "Annotations" / seq).glob("*.png"))
        # A clip's masks are paired with its frames by position, so a missing annotation
        # would shift every later one onto the wrong frame.
        if not images or len(images) != len(anns):
            raise BadInput(f"sequence {seq} has {len(images)} frames (*.jpg) and {len(anns)} annotations (*.png): "
                           "training needs an annotation for every frame")
        return images, anns

    def _decode(self, images: list[Path], anns: list[Path]) -> _Decoded:
        labels = [read_annotation(p) for p in anns]
        return _Decoded(self._resized_rgb(images), self._resized_labels(labels), [frozenset(np.unique(lab).tolist()) for lab in labels])

    def _resized_rgb(self, images: list[Path]) -> np.ndarray:
        s = self.image_size
        return np.stack([np.asarray(Image.open(p).convert("RGB").resize((s, s), Image.Resampling.BICUBIC)) for p in images])

    def _resized_labels(self, labels: list[np.ndarray]) -> np.ndarray:
        # Nearest resampling picks one source pixel per target pixel, so resizing the label
        # map and then comparing with an id gives that object's resized mask exactly.
        s = self.image_size
        return np.stack([np.asarray(Image.fromarray(lab).resize((s, s), Image.Resampling.NEAREST)) for lab in labels])

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (T, 3, S, S) normalised and masks (T, 1, S, S) of one object."""
        want_several = rng.random() < self.multi_object_prob
        for _ in range(20):
            seq = self.sequences[int(rng.integers(len(self.sequences)))]
            decoded = self._preloaded.get(seq)
            if decoded is None:
                images, anns = self._paths(seq)
            num = len(decoded.ids) if decoded is not None else len(images)
            # Drawn only when asked for, so runs without it sample the clips they always did.
            step = int(rng.integers(1, self.max_frame_step + 1)) if self.max_frame_step > 1 else 1
            length = min(self.clip_len, num)
            step = min(step, (num - 1) // (length - 1)) if length > 1 else 1  # the clip fits the sequence
            span = (length - 1) * step + 1
            start = int(rng.integers(0, num - span + 1))
            picked = slice(start, start + span, step)
            if decoded is not None:
                present = decoded.ids[picked]
            else:
                labels = [read_annotation(p) for p in anns[picked]]
                present = [frozenset(np.unique(lab).tolist()) for lab in labels]
            ids = sorted(present[0] - {0}) or sorted(frozenset().union(*present) - {0}) or [1]
            if not want_several or len(ids) >= 2:
                break
        obj = ids[int(rng.integers(len(ids)))]
        if decoded is not None:
            rgb, label_maps = decoded.rgb[picked], decoded.labels[picked]
        else:
            rgb, label_maps = self._resized_rgb(images[picked]), self._resized_labels(labels)
        rgb = torch.from_numpy(_UNIT[rgb]).permute(0, 3, 1, 2)  # (T, 3, S, S) in [0, 1]
        masks = torch.from_numpy(label_maps == obj)[:, None].float()  # (T, 1, S, S)
        if self.augment:
            rgb, masks = jitter_clip(rgb, masks, rng)
        return (rgb - self.mean) / self.std, masks

    def sample_batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`size` clips stacked, frames (B, T, 3, S, S) and masks (B, T, 1, S, S), cut to the shortest."""
        clips = [self.sample(rng) for _ in range(size)]
        length = min(len(frames) for frames, _ in clips)
        return torch.stack([f[:length] for f, _ in clips]), torch.stack([m[:length] for _, m in clips])


def jitter_clip(
    rgb: torch.Tensor, masks: torch.Tensor, rng: np.random.Generator, strength: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror a clip half the time and scale its brightness, contrast and saturation by
    factors in [1 - strength, 1 + strength], the same for all its frames."""
    if rng.random() < 0.5:
        rgb, masks = rgb.flip(-1), masks.flip(-1)
    brightness, contrast, saturation = (1 + strength * (2 * rng.random(3) - 1)).tolist()
    rgb = rgb * brightness
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * contrast + mean
    gray = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
    rgb = (rgb - gray) * saturation + gray
    return rgb.clamp(0, 1), masks


@dataclass
class TrainResult:
    checkpoint: Path  # the last checkpoint written (by rank 0)
    model: torch.nn.Module  # this process's trained model
    step: int


# losses.csv: the weighted total, the paper's terms (unweighted), the extra terms as
# weighted into the total (empty when not asked for), and the speed.
LOG_COLUMNS = ("step", "loss", "focal", "dice", "iou", "object", "anchor", "appearance", "attention", "clips_per_s")


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-4  # peak learning rate, after a linear warm-up, then a cosine decay
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # the cosine ends at this fraction of the peak
    multi_object_prob: float = 0.0  # share of clips starting on a frame with several objects
    prompts: PromptProbabilities = PromptProbabilities()
    # Submodules (e.g. "sam_mask_decoder") given fresh random weights after loading `init`:
    # a decoder that learned to ignore prompts does not unlearn it, a new one learns them.
    reinit: tuple[str, ...] = ()
    # Rescale the image embedding (the neck's two coarse levels) to this mean token norm
    # before training, and scale it back to it whenever a clip's embedding is larger. An
    # embedding that grows far past the position encoding's norm (8) hides where a click
    # is from the decoder, which then learns to ignore clicks.
    embedding_norm: float | None = None
    augment: bool = False  # mirror and colour-jitter clips (ClipSampler)
    max_frame_step: int = 1  # clips take every k-th frame, k drawn from 1..this (ClipSampler)
    preload: bool = False  # decode every frame into memory first (ClipSampler.preload): for GPUs
    stop_after: int | None = None  # end this run after so many steps (a slice of the schedule; resume later)
    weight_decay: float = 0.01
    grad_clip: float = 0.1  # the paper's gradient-norm clip
    clip_len: int = 8
    # Clips per step (per process), run through the network together: smoother gradients,
    # and on a GPU many clips for little more time than one.
    batch_size: int = 1
    freeze_image_encoder: bool = False
    # Further submodules kept as they are (e.g. the prompt encoder and mask decoder while a
    # fresh memory path learns, so the answers to clicks stay exactly those of `init`).
    freeze: tuple[str, ...] = ()  # top-level names, dotted module or parameter paths (image_encoder.neck)
    # The opposite: when given, only these submodules or parameters learn (e.g. the IoU
    # head alone, so the masks stay exactly as they are and only the choice among them moves).
    train_only: tuple[str, ...] = ()
    # The image encoder's own peak learning rate (None: lr). Fine-tuning a trained encoder
    # wants a rate far below that of freshly initialised modules.
    image_encoder_lr: float | None = None
    # The prompt encoder's and mask decoder's (None: lr). Kept low, the answers to clicks
    # move little while the decoder learns to read memory-conditioned frames.
    decoder_lr: float | None = None
    # Supervise every candidate mask's predicted IoU (SAM 2's recipe), not only the best's:
    # inference picks among candidates by it, on a first click and on every tracked frame.
    supervise_all_iou: bool = False
    # A checkpoint whose answers to clicks and boxes on a frame without memory are kept
    # (learning without forgetting), so tracking can learn without costing the clicks;
    # anchor_weight scales that loss against the paper's.
    anchor: str | None = None
    anchor_weight: float = 1.0
    # > 0: the image features keep matching tokens across frames as the pixels do
    # (losses.appearance_loss), with this weight beside the paper's losses.
    appearance_weight: float = 0.0
    # > 0: memory attention is taught to carry the truth's labels from the memories' tokens
    # to the frame's (losses.attention_loss), with this weight.
    attention_weight: float = 0.0
    seed: int = 0
    bf16: bool | None = None  # None: on where the hardware has bf16 (CUDA with bf16)
    save_every: int = 100
    # > 0: also keep the model's weights every keep_every steps as step-NNNNNN.pt, so the
    # last few can be averaged weight by weight (`masklet export --average-with`).
    keep_every: int = 0
    progress: bool = True


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of a step: linear warm-up, then cosine decay to min_lr_ratio x lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _check_submodules(model: torch.nn.Module, names: tuple[str, ...], what: str, nested: bool = False) -> None:
    known = {n for n, _ in model.named_children()}
    if nested:  # dotted paths too, e.g. image_encoder.neck, and single parameters
        known |= {n for n, _ in model.named_modules() if n} | {n for n, _ in model.named_parameters()}
    unknown = sorted(set(names) - known)
    if unknown:
        hint = " (or a dotted path inside one, e.g. image_encoder.neck or image_encoder.trunk.pos_embed)" if nested else ""
        raise BadInput(f"cannot {what} {unknown}: the model's submodules are {sorted(n for n, _ in model.named_children())}{hint}")


def _reinit(model: torch.nn.Module, prefixes: tuple[str, ...], seed: int) -> None:
    """Give the named submodules the random weights of a fresh model (same in every process)."""
    _check_submodules(model, prefixes, "re-initialise")
    torch.manual_seed(seed)
    fresh = type(model)(model.cfg).to(model.device).state_dict()
    state = model.state_dict()
    state.update({k: v for k, v in fresh.items() if k.split(".")[0] in prefixes})
    model.load_state_dict(state, strict=True)
    if "sam_mask_decoder" in prefixes:
        _tie_query_key(model.sam_mask_decoder.transformer)


@torch.no_grad()
def _tie_query_key(transformer: torch.nn.Module) -> None:
    """Start each attention with its key projection equal to its query projection.

    Then q.k ~ (position encoding of a click) . (position encoding of a pixel) from the first
    step, so the decoder sees where a click is before it has learned anything; with
    independent random projections it must first discover that, which takes long enough
    for it to settle on ignoring clicks.
    """
    for module in transformer.modules():
        q, k = getattr(module, "q_proj", None), getattr(module, "k_proj", None)
        if q is not None and k is not None and q.weight.shape == k.weight.shape:
            k.weight.copy_(q.weight)


@torch.no_grad()
def _rescale_embedding(model: torch.nn.Module, sampler: ClipSampler, target: float, seed: int) -> float:
    """Scale the image embedding so its mean token norm is `target` on a few training
    frames; returns the factor applied."""
    rng = np.random.default_rng([seed, 2**31 - 1])
    frames = torch.cat([sampler.sample(rng)[0][:1] for _ in range(4)]).to(model.device)
    norm = float(model.forward_image(frames).vision_features.norm(dim=1).mean())
    return _scale_embedding(model, target / norm)


@torch.no_grad()
def _scale_embedding(model: torch.nn.Module, factor: float) -> float:
    """Multiply the image embedding by `factor`, through the neck's coarse lateral
    convolutions (the embedding is their sum after upsampling, so it scales exactly).

    The memory encoder's projection of the embedding is divided by it and the no-memory
    embedding multiplied, so memories come out unchanged and a prompted frame's decoder
    input is the old one times `factor`: a trained memory path keeps working.
    """
    neck = model.image_encoder.neck
    for conv in (neck.convs[0].conv, neck.convs[1].conv):  # the stride-32 and stride-16 levels
        conv.weight.mul_(factor)
        conv.bias.mul_(factor)
    model.memory_encoder.pix_feat_proj.weight.div_(factor)
    model.no_mem_embed.mul_(factor)
    return factor


def _param_groups(model: torch.nn.Module, params: list[torch.nn.Parameter], cfg: TrainConfig) -> list[dict]:
    """Optimizer groups, each with its learning rate's scale against cfg.lr: the image
    encoder's and the decoder's (prompt encoder and mask decoder) where they have their own."""
    scales = {}
    if cfg.image_encoder_lr is not None:
        scales.update({id(p): cfg.image_encoder_lr / cfg.lr for p in model.image_encoder.parameters()})
    if cfg.decoder_lr is not None:
        for module in (model.sam_prompt_encoder, model.sam_mask_decoder):
            scales.update({id(p): cfg.decoder_lr / cfg.lr for p in module.parameters()})
    groups: dict[float, list] = {1.0: []}  # the rest first, as resumed optimizer states expect
    for p in params:
        groups.setdefault(scales.get(id(p), 1.0), []).append(p)
    return [{"params": ps, "scale": scale} for scale, ps in groups.items() if ps]


def _batches(sampler: ClipSampler, cfg: TrainConfig, rank: int, start: int, end: int) -> Iterator[tuple[int, int, Tensor, Tensor]]:
    """Each step's (generator seed, torch seed, frames, masks), a function of (seed, step, rank) alone.

    The next step's batch is drawn in a thread while this step trains. The sampler draws
    from its numpy generator only, never from torch's global one, which the training step
    reseeds meanwhile: so a resumed run still sees the same clips.
    """

    def draw(step: int) -> tuple[int, int, Tensor, Tensor]:
        rng = np.random.default_rng([cfg.seed, step, rank])
        generator_seed, torch_seed = int(rng.integers(2**31)), int(rng.integers(2**31))
        return (generator_seed, torch_seed, *sampler.sample_batch(rng, cfg.batch_size))

    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(draw, start) if start < end else None
        for step in range(start, end):
            batch = ahead.result()
            ahead = pool.submit(draw, step + 1) if step + 1 < end else None
            yield batch


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def train(
    model_config: str | Sam2Config,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: TrainConfig = TrainConfig(),
    init: str | os.PathLike | None = None,
    device: str | None = None,
    **model_overrides: object,
) -> TrainResult:
    """Train (from scratch, or from `init`: a checkpoint or "standin") and return the last checkpoint.

    The model starts identical in every process (same init), and gradients are averaged
    across processes each step, so all processes hold the same weights throughout.
    """
    from tqdm import tqdm

    rank, world = _distributed()
    out = Path(out_dir)
    last = out / "last.pt"
    model = build_model(model_config, init if not last.exists() else None, device=device, mode="train", **model_overrides)
    if cfg.reinit and not last.exists():
        _reinit(model, cfg.reinit, cfg.seed)
    anchor = None
    if cfg.anchor is not None:
        anchor = build_model(model_config, cfg.anchor, device=device, **model_overrides).eval().requires_grad_(False)
    sampler = ClipSampler(data_root, model.cfg.image_size, cfg.clip_len, cfg.multi_object_prob, cfg.augment,
                          cfg.max_frame_step)
    if cfg.embedding_norm is not None and not last.exists():
        _rescale_embedding(model, sampler, cfg.embedding_norm, cfg.seed)
    _check_submodules(model, cfg.freeze, "freeze", nested=True)
    parameters = dict(model.named_parameters())
    for name in cfg.freeze + (("image_encoder",) if cfg.freeze_image_encoder else ()):
        (parameters[name] if name in parameters else model.get_submodule(name)).requires_grad_(False)
    if cfg.train_only:
        _check_submodules(model, cfg.train_only, "train only", nested=True)
        for name, p in parameters.items():
            if not any(name == keep or name.startswith(keep + ".") for keep in cfg.train_only):
                p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = _param_groups(model, params, cfg)
    # Tiny gradients and Adam moments underflow to denormals, which are many times
    # slower on CPUs: flush them to zero; the fused AdamW kernel is faster still.
    torch.set_flush_denormal(True)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    step = 0
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    use_bf16 = cfg.bf16 if cfg.bf16 is not None else (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    device_type = model.device.type
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "losses.csv"
    if rank == 0 and not log_path.exists():
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_COLUMNS)
    # A run resumed from an older log keeps that log's columns.
    columns = LOG_COLUMNS
    if rank == 0:
        with open(log_path, newline="") as f:
            columns = tuple(next(csv.reader(f)))
    end = cfg.steps if cfg.stop_after is None else min(cfg.steps, step + cfg.stop_after)
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not cfg.progress or rank != 0)
    if cfg.preload and step < end:
        sampler.preload()
    # Closed on an error too, which ends the thread drawing the next batch.
    with contextlib.closing(_batches(sampler, cfg, rank, step, end)) as batches:
        for generator_seed, torch_seed, frames, masks in batches:
            generator = torch.Generator().manual_seed(generator_seed)
            torch.manual_seed(torch_seed)  # dropout: a function of (seed, step, rank), so resuming is exact
            start = time.perf_counter()
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_bf16):
                terms = clip_losses(
                    model, frames.to(model.device), masks.to(model.device), generator, cfg.prompts, cfg.supervise_all_iou, anchor, cfg.anchor_weight,
                    cfg.appearance_weight, cfg.attention_weight,
                )
            loss = terms.total
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step) * group.get("scale", 1.0)
            optimizer.zero_grad(set_to_none=True)
            if loss.requires_grad:  # a one-frame clip of an absent object has nothing to learn
                loss.backward()
            if world > 1:
                # Data parallel: every process trains on its own clips; gradients are averaged.
                # (The clip runs through several model methods, not one forward(), so the
                # averaging is done here rather than by a DistributedDataParallel wrapper.)
                for p in params:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                    dist.all_reduce(p.grad)
                    p.grad /= world
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            if cfg.embedding_norm is not None and terms.embedding_norm is not None:
                norm = terms.embedding_norm.clone()
                if world > 1:  # every process must apply the same factor
                    dist.all_reduce(norm)
                    norm /= world
                if float(norm) > cfg.embedding_norm:
                    _scale_embedding(model, cfg.embedding_norm / float(norm))
            step += 1
            rate = world * cfg.batch_size / (time.perf_counter() - start)
            if rank == 0:
                logged = {"step": step, "loss": f"{loss.item():.5f}", "clips_per_s": f"{rate:.3f}"}
                for k in ("focal", "dice", "iou", "object", "anchor", "appearance", "attention"):
                    value = getattr(terms, k)
                    logged[k] = "" if value is None else f"{value.item():.5f}"
                with open(log_path, "a", newline="") as f:
                    csv.writer(f).writerow([logged.get(k, "") for k in columns])
                bar.set_postfix(loss=f"{loss.item():.4f}", clips_s=f"{rate:.2f}")
                bar.update(1)
                if step % cfg.save_every == 0 or step == end:
                    with atomic_path(last) as tmp:
                        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, tmp)
                if cfg.keep_every and step % cfg.keep_every == 0:
                    with atomic_path(out / f"step-{step:06d}.pt") as tmp:
                        torch.save({"model": model.state_dict(), "step": step}, tmp)
    bar.close()
    if world > 1:
        dist.barrier()
    return TrainResult(last, model, step)
