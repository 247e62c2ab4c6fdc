"""Training: the loss falls on a tiny generated set, resuming is exact, two-process DDP."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from masklet.data.generator import GeneratorConfig, write_dataset
from masklet.train import TrainConfig, train
from masklet.train.losses import anchor_loss, appearance_loss, attention_loss, dice_loss, mask_losses, sigmoid_focal_loss

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(image_size=64)  # the tiny network at a 64-pixel input: the same code, fast


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, shared_data: Path) -> Path:
    out = tmp_path_factory.mktemp("generated")
    write_dataset(out, "train", 2, shared_data, GeneratorConfig(width=96, height=64, num_frames=3, min_objects=1, max_objects=2))
    return out


def losses(run: Path) -> list[float]:
    return [float(r["loss"]) for r in csv.DictReader(open(run / "losses.csv"))]


def test_losses_known_values() -> None:
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    perfect = torch.where(target > 0, 20.0, -20.0)
    assert sigmoid_focal_loss(perfect, target).item() < 1e-8
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    assert dice_loss(-perfect, target).item() == pytest.approx(1 - 1 / 17, abs=1e-4)  # the complement: (0 + 1) / (8 + 8 + 1)


def test_iou_loss_on_the_best_candidate_or_on_all() -> None:
    """The IoU term: the best candidate's error alone, or every candidate's mean (all_iou)."""
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :] = 1
    exact = torch.where(target > 0, 20.0, -20.0)[0, 0]
    logits = torch.stack([exact, -exact, torch.full_like(exact, 20.0)])[None]  # right, the complement, all foreground
    iou_pred = torch.tensor([[0.9, 0.8, 0.1]])  # true IoUs: 1, 0, 0.5
    obj = torch.tensor([[5.0]])
    best = mask_losses(logits, iou_pred, obj, target)
    every = mask_losses(logits, iou_pred, obj, target, all_iou=True)
    assert best.iou.item() == pytest.approx(0.1)
    assert every.iou.item() == pytest.approx((0.1 + 0.8 + 0.4) / 3)
    assert every.dice.item() == pytest.approx(best.dice.item())  # the mask terms stay on the best candidate


def test_short_run_lowers_the_loss(tiny_set: Path, tmp_path: Path) -> None:
    train("sam2.1_hiera_t", tiny_set, tmp_path, TrainConfig(steps=8, lr=3e-4, clip_len=2, progress=False), init="standin", device="cpu", **SMALL)
    values = losses(tmp_path)
    assert len(values) == 8
    assert sum(values[-3:]) / 3 < 0.5 * values[0]


def test_resume_continues_exactly(tiny_set: Path, tmp_path: Path) -> None:
    cfg = dict(lr=3e-4, clip_len=2, save_every=2, progress=False)
    train("sam2.1_hiera_t", tiny_set, tmp_path / "a", TrainConfig(steps=4, **cfg), init="standin", device="cpu", **SMALL)
    # Interrupted half-way through the same 4-step schedule (the learning rate depends on it).
    interrupted = train("sam2.1_hiera_t", tiny_set, tmp_path / "b", TrainConfig(steps=4, stop_after=2, **cfg), init="standin", device="cpu", **SMALL)
    assert torch.load(interrupted.checkpoint, weights_only=True)["step"] == 2
    resumed = train("sam2.1_hiera_t", tiny_set, tmp_path / "b", TrainConfig(steps=4, **cfg), init="standin", device="cpu", **SMALL)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(resumed.checkpoint, weights_only=True)
    assert b["step"] == 4 and losses(tmp_path / "b") == pytest.approx(losses(tmp_path / "a"))
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, msg=key)


def test_two_process_ddp(tiny_set: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, torch, torch.distributed as dist\n"
        "from masklet.train import TrainConfig, train\n"
        f"r = train('sam2.1_hiera_t', {str(tiny_set)!r}, {str(tmp_path / 'run')!r}, TrainConfig(steps=2, clip_len=2, progress=False),"
        " init='standin', device='cpu', image_size=64)\n"
        "total = sum(float(p.double().sum()) for p in r.model.parameters())\n"
        f"open({str(tmp_path)!r} + f'/rank{{dist.get_rank()}}.txt', 'w').write(repr(total))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", str(script)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(losses(tmp_path / "run")) == 2
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 2
    # Gradients were averaged: both processes end with the same weights.
    assert (tmp_path / "rank0.txt").read_text() == (tmp_path / "rank1.txt").read_text()


def test_prompt_stage_options(tiny_set: Path, tmp_path: Path) -> None:
    """--reinit gives the decoder fresh weights with tied query/key projections,
    --embedding-norm rescales the image embedding, and a click-only one-frame stage runs."""
    from masklet.build import build_model
    from masklet.train import PromptProbabilities

    cfg = TrainConfig(steps=2, clip_len=1, progress=False, freeze_image_encoder=True, reinit=("sam_mask_decoder",), embedding_norm=8.0,
                      prompts=PromptProbabilities(mask=0.0, box=0.5, refine_clicks=2))
    result = train("sam2.1_hiera_t", tiny_set, tmp_path, cfg, init="standin", device="cpu", **SMALL)
    standin = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL)
    trained = result.model
    attn = trained.sam_mask_decoder.transformer.layers[0].cross_attn_token_to_image
    assert not torch.equal(attn.q_proj.weight, standin.sam_mask_decoder.transformer.layers[0].cross_attn_token_to_image.q_proj.weight)
    encoder_same = [torch.equal(a, b) for (n, a), b in zip(trained.image_encoder.trunk.state_dict().items(), standin.image_encoder.trunk.state_dict().values())]
    assert all(encoder_same)  # frozen
    from masklet.train.trainer import ClipSampler

    frames = ClipSampler(tiny_set, 64, 1).sample(__import__("numpy").random.default_rng(0))[0]
    with torch.no_grad():
        norm = trained.forward_image(frames).vision_features.norm(dim=1).mean().item()
    assert 2.0 < norm < 32.0  # rescaled towards 8 (measured on other frames)
    assert len(losses(tmp_path)) == 2
    with pytest.raises(ValueError, match="cannot re-initialise"):
        train("sam2.1_hiera_t", tiny_set, tmp_path / "bad", TrainConfig(steps=1, reinit=("decoder",), progress=False), init="standin",
              device="cpu", **SMALL)


def test_embedding_norm_is_capped_while_training(tiny_set: Path, tmp_path: Path) -> None:
    """From scratch, with the encoder learning, --embedding-norm keeps the embedding at the cap."""
    from masklet.build import build_model
    from masklet.train.trainer import ClipSampler

    frames = ClipSampler(tiny_set, 64, 1).sample(__import__("numpy").random.default_rng(0))[0]

    def norm(model: torch.nn.Module) -> float:
        with torch.no_grad():
            return model.forward_image(frames).vision_features.norm(dim=1).mean().item()

    cap = 2.0
    torch.manual_seed(0)
    assert norm(build_model("sam2.1_hiera_t", None, device="cpu", **SMALL)) > 4 * cap
    cfg = TrainConfig(steps=3, lr=2e-4, clip_len=2, progress=False, embedding_norm=cap)
    result = train("sam2.1_hiera_t", tiny_set, tmp_path, cfg, device="cpu", **SMALL)
    assert norm(result.model) < 1.5 * cap


def test_embedding_rescale_keeps_memories() -> None:
    """Scaling the embedding leaves the memory encoder's output and the no-memory decoder
    input's direction unchanged, so a trained memory path survives the rescale."""
    from masklet.build import build_model
    from masklet.train.trainer import _scale_embedding

    model = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL)
    torch.manual_seed(0)
    frames, masks = torch.randn(1, 3, 64, 64), (torch.rand(1, 1, 64, 64) > 0.5).float() * 20 - 10
    score = torch.ones(1, 1)

    def outputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            vision = model.forward_image(frames).vision_features
            memory = model.encode_memory(vision, masks, score, False)[0]
            return vision, memory, model.condition_on_memory(vision, torch.zeros_like(vision), None)

    vision, memory, pix = outputs()
    _scale_embedding(model, 0.25)
    vision2, memory2, pix2 = outputs()
    torch.testing.assert_close(vision2, 0.25 * vision)
    torch.testing.assert_close(memory2, memory, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pix2, 0.25 * pix)


def test_reinit_ties_query_and_key_projections() -> None:
    from masklet.build import build_model
    from masklet.train.trainer import _reinit

    model = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL)
    before = model.image_encoder.trunk.patch_embed.proj.weight.clone()
    _reinit(model, ("sam_mask_decoder",), seed=0)
    for layer in model.sam_mask_decoder.transformer.layers:
        assert torch.equal(layer.cross_attn_token_to_image.k_proj.weight, layer.cross_attn_token_to_image.q_proj.weight)
    assert torch.equal(model.image_encoder.trunk.patch_embed.proj.weight, before)  # only the named module changes


def test_augmentation_keeps_masks_on_their_pixels(tiny_set: Path) -> None:
    """A jittered clip is mirrored with its masks, jittered alike on every frame, in range."""
    import numpy as np

    from masklet.train.trainer import ClipSampler, jitter_clip

    plain = ClipSampler(tiny_set, 64, 3)
    augmented = ClipSampler(tiny_set, 64, 3, augment=True)
    mirrored = 0
    for seed in range(8):
        frames, masks = plain.sample(np.random.default_rng(seed))
        frames2, masks2 = augmented.sample(np.random.default_rng(seed))
        assert torch.equal(masks2, masks) or torch.equal(masks2, masks.flip(-1))
        mirrored += not torch.equal(masks2, masks)
        assert not torch.allclose(frames2, frames)
    assert 0 < mirrored < 8
    rgb = torch.rand(1, 3, 16, 16).expand(3, -1, -1, -1)  # three identical frames
    out, _ = jitter_clip(rgb, torch.zeros(3, 1, 16, 16), np.random.default_rng(1))
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    assert 0 <= out.min() and out.max() <= 1 and not torch.allclose(out, rgb)


def test_a_batch_of_clips_is_the_mean_of_its_clips(tiny_set: Path) -> None:
    """Clips run through the network together give the mean of their losses one by one
    (mask prompts and no corrective clicks, so every clip gives as many answers)."""
    import numpy as np

    from masklet.build import build_model
    from masklet.train import PromptProbabilities
    from masklet.train.clip import clip_losses
    from masklet.train.trainer import ClipSampler

    model = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL).eval()  # eval: no dropout
    frames, masks = ClipSampler(tiny_set, 64, 3).sample_batch(np.random.default_rng(0), 3)
    assert frames.shape == (3, 3, 3, 64, 64) and masks.shape == (3, 3, 1, 64, 64)
    probs = PromptProbabilities(mask=1.0, correct=0.0)
    with torch.no_grad():
        batched = clip_losses(model, frames, masks, torch.Generator().manual_seed(0), probs)
        alone = [clip_losses(model, frames[i], masks[i], torch.Generator().manual_seed(0), probs) for i in range(3)]
    for key in ("focal", "dice", "iou", "object"):
        values = torch.stack([getattr(x, key) for x in alone])
        assert getattr(batched, key).item() == pytest.approx(values.mean().item(), rel=1e-5, abs=1e-7), key
    assert len({round(x.dice.item(), 6) for x in alone}) > 1  # the clips differ, so the mean means something


def test_batches_with_frozen_decoder(tiny_set: Path, tmp_path: Path) -> None:
    """A batched run with corrective clicks trains the memory path and leaves frozen modules as they were."""
    from masklet.build import build_model
    from masklet.train import PromptProbabilities

    cfg = TrainConfig(steps=2, lr=1e-3, clip_len=3, batch_size=3, progress=False, freeze_image_encoder=True,
                      freeze=("sam_mask_decoder", "sam_prompt_encoder"), reinit=("memory_attention",),
                      prompts=PromptProbabilities(mask=0.0, box=0.5, correct=1.0, refine_clicks=1))
    result = train("sam2.1_hiera_t", tiny_set, tmp_path, cfg, init="standin", device="cpu", **SMALL)
    standin = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL).state_dict()
    trained = result.model.state_dict()
    for prefix in ("sam_mask_decoder.", "sam_prompt_encoder.", "image_encoder."):
        assert all(torch.equal(v, standin[k]) for k, v in trained.items() if k.startswith(prefix)), prefix
    assert not torch.equal(trained["memory_encoder.out_proj.weight"], standin["memory_encoder.out_proj.weight"])
    rows = list(csv.DictReader(open(tmp_path / "losses.csv")))
    assert len(rows) == 2 and all(float(r["loss"]) > 0 for r in rows)
    with pytest.raises(ValueError, match="cannot freeze"):
        train("sam2.1_hiera_t", tiny_set, tmp_path / "bad", TrainConfig(steps=1, freeze=("decoder",), progress=False), init="standin",
              device="cpu", **SMALL)


def change(trained: dict, start: dict, prefix: str) -> float:
    """The largest change of any weight whose key starts with `prefix`."""
    return max(float((v - start[k]).abs().max()) for k, v in trained.items() if k.startswith(prefix))


def test_image_encoder_learns_at_its_own_rate(tiny_set: Path, tmp_path: Path) -> None:
    """--image-encoder-lr moves the trunk by far less than the rest; a dotted --freeze
    (image_encoder.neck, or one parameter: the trunk's position embedding) keeps just that part."""
    from masklet.build import build_model

    start = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL).state_dict()
    moved = {}
    for name, encoder_lr in (("same", None), ("slow", 1e-6)):
        cfg = TrainConfig(steps=2, lr=1e-3, clip_len=2, progress=False, freeze=("image_encoder.neck", "image_encoder.trunk.pos_embed"),
                          image_encoder_lr=encoder_lr)
        trained = train("sam2.1_hiera_t", tiny_set, tmp_path / name, cfg, init="standin", device="cpu", **SMALL).model.state_dict()
        assert change(trained, start, "image_encoder.neck.") == 0
        key = "image_encoder.trunk.pos_embed"
        assert float((trained[key] - start[key]).abs().max()) == 0
        assert change(trained, start, key + "_window") > 0  # not frozen: it still learns
        moved[name] = (change(trained, start, "image_encoder.trunk."), change(trained, start, "memory_attention."))
    assert moved["slow"][0] < 0.01 * moved["same"][0]
    assert moved["slow"][1] == pytest.approx(moved["same"][1], rel=0.5)  # the rest learns as before


def test_the_decoder_learns_at_its_own_rate(tiny_set: Path, tmp_path: Path) -> None:
    """--decoder-lr moves the prompt encoder and mask decoder by far less than the rest."""
    from masklet.build import build_model

    start = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL).state_dict()
    moved = {}
    for name, decoder_lr in (("same", None), ("slow", 1e-6)):
        cfg = TrainConfig(steps=2, lr=1e-3, clip_len=2, progress=False, freeze_image_encoder=True, decoder_lr=decoder_lr)
        trained = train("sam2.1_hiera_t", tiny_set, tmp_path / name, cfg, init="standin", device="cpu", **SMALL).model.state_dict()
        moved[name] = {prefix: change(trained, start, prefix) for prefix in ("sam_mask_decoder.", "sam_prompt_encoder.", "memory_attention.")}
    for prefix in ("sam_mask_decoder.", "sam_prompt_encoder."):
        assert 0 < moved["slow"][prefix] < 0.01 * moved["same"][prefix]
    assert moved["slow"]["memory_attention."] == pytest.approx(moved["same"]["memory_attention."], rel=0.5)


def test_train_only_the_iou_head(tiny_set: Path, tmp_path: Path) -> None:
    """--train-only sam_mask_decoder.iou_prediction_head: that head learns, every other weight stays."""
    from masklet.build import build_model

    start = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL).state_dict()
    head = "sam_mask_decoder.iou_prediction_head."
    cfg = TrainConfig(steps=2, lr=1e-3, clip_len=2, progress=False, train_only=(head[:-1],), supervise_all_iou=True)
    trained = train("sam2.1_hiera_t", tiny_set, tmp_path / "run", cfg, init="standin", device="cpu", **SMALL).model.state_dict()
    assert change(trained, start, head) > 0
    assert all(torch.equal(v, start[k]) for k, v in trained.items() if not k.startswith(head))
    with pytest.raises(ValueError, match="cannot train only"):
        train("sam2.1_hiera_t", tiny_set, tmp_path / "bad", TrainConfig(steps=1, train_only=("iou_head",), progress=False), init="standin",
              device="cpu", **SMALL)


def test_anchor_loss_is_zero_only_for_the_same_answers() -> None:
    logits = torch.randn(2, 3, 8, 8) * 4
    iou = torch.rand(2, 3)
    assert anchor_loss(logits, iou, logits, iou).abs().max().item() < 1e-6
    moved = anchor_loss(logits + torch.randn_like(logits), iou + 0.1, logits, iou)
    assert moved.shape == (2,) and (moved > 0.1).all()


def clicked_answers(model, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every candidate mask and predicted IoU for one click at the frame's centre, without memory."""
    with torch.no_grad():
        feats = model.forward_image(frame[None])
        pix = model.condition_on_memory(feats.vision_features, torch.zeros_like(feats.vision_features), None)
        points = (torch.tensor([[[32.0, 32.0]]]), torch.ones(1, 1, dtype=torch.int32))
        out = model.forward_sam_heads(pix, points, None, feats.backbone_fpn[:-1], True)
    return out.all_masks, out.iou_scores


def test_an_anchor_keeps_the_answers_to_clicks(tiny_set: Path, tmp_path: Path) -> None:
    """--anchor: against the model it started from, the anchor term is 0 at first, and training
    with it moves the answers to a click less than the same training without it."""
    import numpy as np

    from masklet.build import build_model
    from masklet.train import PromptProbabilities
    from masklet.train.clip import clip_losses
    from masklet.train.trainer import ClipSampler

    start = build_model("sam2.1_hiera_t", "standin", device="cpu", **SMALL)
    frames, masks = ClipSampler(tiny_set, 64, 2).sample_batch(np.random.default_rng(0), 2)
    probs = PromptProbabilities(mask=0.0, box=0.5, refine_clicks=1)
    terms = clip_losses(start, frames, masks, torch.Generator().manual_seed(0), probs, anchor=start)
    assert terms.anchor is not None and abs(terms.anchor.item()) < 1e-6
    checkpoint = tmp_path / "start.pt"
    torch.save({"model": start.state_dict()}, checkpoint)
    frame = frames[0, 0]
    moved = {}
    for name, anchor in (("free", None), ("anchored", str(checkpoint))):
        cfg = TrainConfig(steps=12, lr=1e-3, clip_len=2, batch_size=2, progress=False, freeze_image_encoder=True, prompts=probs,
                          anchor=anchor, anchor_weight=50.0)
        trained = train("sam2.1_hiera_t", tiny_set, tmp_path / name, cfg, init="standin", device="cpu", **SMALL).model.eval()
        moved[name] = anchor_loss(*clicked_answers(trained, frame), *clicked_answers(start, frame)).item()
    assert 0 < moved["anchored"] < 0.5 * moved["free"], moved


def test_training_and_inference_choose_the_same_memory(monkeypatch, bedroom_frames) -> None:
    """The same clip through training (clip_losses) and through the video predictor: every
    frame attends to the same prompted frame, recent frames and pointers, the temporal
    stride and the pointer cap included."""
    import numpy as np

    import masklet.inference.video_predictor as inference
    import masklet.train.clip as training
    from masklet.build import build_model
    from masklet.inference.memory_bank import select
    from masklet.inference.video_predictor import VideoPredictor
    from masklet.inference.video_io import ArraySource, FrameLoader
    from masklet.train.clip import clip_losses

    def model(mode: str):
        return build_model("masklet-nano", "standin", device="cpu", mode=mode, image_size=64, num_maskmem=4,
                           memory_temporal_stride_for_eval=2, max_obj_ptrs_in_encoder=5)

    frames = list(bedroom_frames[:8])
    mask = np.zeros(frames[0].shape[:2], bool)
    mask[40:100, 60:160] = True
    chosen: dict[str, dict[int, tuple]] = {"training": {}, "inference": {}}

    def recording(path: str):
        def record(cfg, frame_idx, *args, **kwargs):
            result = select(cfg, frame_idx, *args, **kwargs)
            chosen[path][frame_idx] = (result.cond_frames, result.recent, result.pointers, result.max_ptr_distance)
            return result
        return record

    monkeypatch.setattr(inference, "select", recording("inference"))
    monkeypatch.setattr(training, "select", recording("training"))
    predictor = VideoPredictor(model("eval"), fill_hole_area=0)
    session = predictor.start(frames)
    predictor.add_mask(session, 0, 1, mask)
    list(predictor.propagate(session))
    loader = FrameLoader(ArraySource(frames), 64)
    clip = torch.stack([loader[t] for t in range(8)])
    target = torch.nn.functional.interpolate(torch.from_numpy(mask)[None, None].float(), size=(64, 64)).expand(8, 1, 64, 64)
    probs = training.PromptProbabilities(mask=1.0, correct=0.0)
    clip_losses(model("train"), clip, target, torch.Generator().manual_seed(0), probs)
    assert sorted(chosen["training"]) == sorted(chosen["inference"]) == list(range(1, 8))
    assert chosen["training"] == chosen["inference"]
    # Frame 7: the adjacent frame, then every second frame back; pointers from at most 4 frames back.
    cond, recent, pointers, max_distance = chosen["training"][7]
    assert cond == [0] and [t for _, t in recent] == [2, 4, 6] and max_distance == 4
    assert [t for _, t in pointers] == [0, 6, 5, 4, 3]


def test_clips_with_a_frame_step_take_every_kth_frame(tmp_path: Path, shared_data: Path) -> None:
    """--max-frame-step: a clip's frames are evenly spaced by a drawn k in 1..max, inside the sequence."""
    import numpy as np

    from masklet.errors import BadInput
    from masklet.train.trainer import ClipSampler

    write_dataset(tmp_path, "train", 1, shared_data, GeneratorConfig(width=64, height=48, num_frames=9, min_objects=1, max_objects=1))
    every = ClipSampler(tmp_path, 32, 9).sample(np.random.default_rng(0))[0]  # all nine frames, in order
    assert not any(torch.equal(every[i], every[i + 1]) for i in range(8))
    strided = ClipSampler(tmp_path, 32, 3, max_frame_step=4)
    steps = set()
    for seed in range(16):
        frames = strided.sample(np.random.default_rng(seed))[0]
        picked = [next(i for i in range(9) if torch.equal(f, every[i])) for f in frames]
        step = picked[1] - picked[0]
        assert 1 <= step <= 4 and picked == [picked[0], picked[0] + step, picked[0] + 2 * step]
        steps.add(step)
    assert len(steps) >= 3
    plain, step_one = ClipSampler(tmp_path, 32, 3), ClipSampler(tmp_path, 32, 3, max_frame_step=1)
    assert torch.equal(plain.sample(np.random.default_rng(5))[0], step_one.sample(np.random.default_rng(5))[0])
    with pytest.raises(BadInput, match="max_frame_step"):
        ClipSampler(tmp_path, 32, 3, max_frame_step=0)


def test_preloaded_clips_are_the_streamed_ones(tmp_path: Path, shared_data: Path) -> None:
    """--preload: the clips drawn from memory equal, bit for bit, those decoded per clip, and so do the losses."""
    import numpy as np

    from masklet.train.trainer import ClipSampler

    config = GeneratorConfig(width=96, height=64, num_frames=7, min_objects=1, max_objects=3)
    write_dataset(tmp_path / "set", "train", 3, shared_data, config)
    options = dict(multi_object_prob=0.5, augment=True, max_frame_step=2)
    streamed, preloaded = ClipSampler(tmp_path / "set", 48, 4, **options), ClipSampler(tmp_path / "set", 48, 4, **options)
    preloaded.preload(threads=2)
    assert sorted(preloaded._preloaded) == streamed.sequences
    for seed in range(12):
        a, b = streamed.sample_batch(np.random.default_rng(seed), 2), preloaded.sample_batch(np.random.default_rng(seed), 2)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert 0 < float(b[1].mean()) < 1  # an object, not an empty or full mask
    runs = {}
    for preload in (False, True):
        cfg = TrainConfig(steps=3, lr=1e-3, clip_len=3, batch_size=2, seed=3, progress=False, preload=preload)
        train("sam2.1_hiera_t", tmp_path / "set", tmp_path / f"run{preload}", cfg, init="standin", device="cpu", **SMALL)
        runs[preload] = losses(tmp_path / f"run{preload}")
    assert len(runs[True]) == 3 and runs[True] == runs[False]


def test_preload_refuses_what_memory_cannot_hold(tiny_set: Path, monkeypatch) -> None:
    from masklet.errors import BadInput
    from masklet.train import trainer

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 2**20 < trainer._memory_limit() <= physical
    monkeypatch.setattr(trainer, "_memory_limit", lambda: 32 * 1024)  # a machine with 32 KiB
    sampler = trainer.ClipSampler(tiny_set, 64, 3)
    with pytest.raises(BadInput, match=r"preloading 6 frames at 64 px needs .* GiB.*without preloading"):
        sampler.preload()
    assert sampler._preloaded == {}
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # every process of a torchrun on this machine preloads
    monkeypatch.setattr(trainer, "_memory_limit", lambda: 2 * 6 * 64 * 64 * 4 * 3)
    with pytest.raises(BadInput, match=r"in each of 4 processes"):
        sampler.preload()


def test_a_frame_without_its_annotation_is_refused(tmp_path: Path, shared_data: Path) -> None:
    """Masks pair with frames by position: one missing would shift the rest onto the wrong frames."""
    import numpy as np

    from masklet.errors import BadInput
    from masklet.train.trainer import ClipSampler

    write_dataset(tmp_path, "train", 1, shared_data, GeneratorConfig(width=64, height=48, num_frames=4, min_objects=1, max_objects=1))
    sorted((tmp_path / "Annotations").glob("*/*.png"))[2].unlink()
    for preload in (False, True):
        sampler = ClipSampler(tmp_path, 32, 3)
        with pytest.raises(BadInput, match=r"4 frames .* and 3 annotations"):
            sampler.preload() if preload else sampler.sample(np.random.default_rng(0))


def _thumbnails(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, T, 48, S/stride, S/stride): the features appearance_loss compares with, made by hand."""
    import torch.nn.functional as F

    b, t, _, size, _ = frames.shape
    small = F.adaptive_avg_pool2d(frames.flatten(0, 1), 4 * size // stride)
    return F.pixel_unshuffle(small, 4).unflatten(0, (b, t))


def test_appearance_loss_is_zero_for_the_pixels_own_matches(tiny_set: Path) -> None:
    """0 for features that match tokens as the pixels do (the thumbnails themselves, in any
    order of channels and at any scale), more for features that do not, and none for one frame."""
    import numpy as np

    from masklet.train.trainer import ClipSampler

    torch.manual_seed(0)
    frames, _ = ClipSampler(tiny_set, 64, 3).sample_batch(np.random.default_rng(0), 2)
    thumbs = _thumbnails(frames, 16)  # (2, 3, 48, 4, 4)
    assert appearance_loss(thumbs, frames).item() == pytest.approx(0.0, abs=1e-5)
    assert appearance_loss(3.0 * thumbs[:, :, torch.randperm(48)] + 1.0, frames).item() == pytest.approx(0.0, abs=1e-5)
    shuffled = thumbs.flatten(3)[..., torch.randperm(16)].view_as(thumbs)  # each token moved elsewhere
    assert appearance_loss(shuffled, frames).item() > 0.1
    assert appearance_loss(torch.randn(2, 3, 32, 4, 4), frames).item() > 0.1
    assert appearance_loss(thumbs[:, :1], frames[:, :1]).item() == 0.0


def test_appearance_weight_teaches_the_features_the_pixels_matches(tiny_set: Path, tmp_path: Path) -> None:
    """--appearance-weight: a few steps with it bring the image features' matches nearer the
    pixels' than the same steps without it."""
    import numpy as np

    from masklet.train.trainer import ClipSampler

    frames, _ = ClipSampler(tiny_set, 64, 3).sample_batch(np.random.default_rng(5), 2)
    after = {}
    for weight in (0.0, 5.0):
        cfg = TrainConfig(steps=10, lr=1e-3, clip_len=3, batch_size=2, progress=False, appearance_weight=weight, seed=3)
        model = train("sam2.1_hiera_t", tiny_set, tmp_path / str(weight), cfg, init="standin", device="cpu", **SMALL).model.eval()
        with torch.no_grad():
            vision = model.forward_image(frames.flatten(0, 1)).vision_features.unflatten(0, frames.shape[:2])
        after[weight] = appearance_loss(vision, frames).item()
    assert after[5.0] < 0.8 * after[0.0], after


def test_appearance_loss_by_hand() -> None:
    """Two tokens a frame: the pixels match frame 1's first token to frame 0's first, the
    features match it halfway; KL(pixels || features) over frame-0 tokens, by hand."""
    import math

    import torch.nn.functional as F

    frames = torch.zeros(1, 2, 3, 32, 64)  # two 32-pixel tokens side by side at stride 32 (h=1, w=2)
    frames[:, :, 0, :, :32] = 1.0  # red left, black right, on both frames
    vision = torch.zeros(1, 2, 2, 1, 2)
    vision[0, 0, :, 0, 0], vision[0, 0, :, 0, 1] = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0])  # frame 0: opposite tokens
    vision[0, 1, :, 0, 0], vision[0, 1, :, 0, 1] = torch.tensor([1.0, 1.0]), torch.tensor([-1.0, -1.0])  # frame 1: 45 degrees off
    loss = appearance_loss(vision, frames, temperature=1.0).item()
    target = F.softmax(torch.tensor([1.0, -1.0]), 0)  # centred thumbnails: cosine +1 to the same token, -1 to the other
    c = math.cos(math.pi / 4)
    feature = F.softmax(torch.tensor([c, -c]), 0)
    expected = float((target * (target.log() - feature.log())).sum())  # the same for both tokens of frame 1
    assert loss == pytest.approx(expected, rel=1e-4)


def test_train_refuses_weights_that_are_not_finite(tiny_set: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from masklet.cli import main

    for option in ("--appearance-weight", "--anchor-weight", "--attention-weight"):
        for value in ("inf", "nan"):
            result = CliRunner().invoke(main, ["train", str(tiny_set), str(tmp_path / "run"), option, value])
            assert result.exit_code == 2 and option in result.output, (option, value, result.output)
    assert not (tmp_path / "run").exists()


def test_attention_loss_by_hand() -> None:
    """Two queries (object, background), two memory tokens (object, background) and a pointer."""
    import math

    query, key = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    right = torch.tensor([[[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]])  # (B, heads, N, M + P)
    assert attention_loss(right, query, key).item() == pytest.approx(0.0, abs=1e-3)
    wrong = torch.tensor([[[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]]])
    assert attention_loss(wrong, query, key).item() > 9.0
    # The pointer's share is left out: the object query carries 0.3 / 0.4 of object, the
    # background query 0.5; two heads are averaged before the label is carried.
    mixed = torch.tensor([[[[0.3, 0.1, 0.6], [0.5, 0.5, 0.0]]]])
    expected = (-math.log(0.75) - math.log(0.5)) / 2
    assert attention_loss(mixed, query, key).item() == pytest.approx(expected, rel=1e-4)
    assert attention_loss(torch.cat([right, wrong], 1), query, key).item() == pytest.approx(math.log(2), rel=1e-3)
    # Nothing to carry: no object in the memory, or none in the frame.
    assert attention_loss(wrong, query, torch.tensor([[0.0, 0.0]])).item() == 0.0
    assert attention_loss(wrong, torch.tensor([[0.0, 0.0]]), key).item() == 0.0


def test_memory_attention_weights_are_the_ones_it_uses() -> None:
    """RoPEAttention.weights: the probabilities forward applies to the values, pointer tokens
    (unrotated) included."""
    from masklet.build import build_model

    torch.manual_seed(0)
    model = build_model("masklet-nano").eval()
    attn = model.memory_attention.layers[0].cross_attn_image
    q, k = torch.randn(2, 16, 128), torch.randn(2, 2 * 16 + 4, 64)
    with torch.no_grad():
        weights = attn.weights(q, k, num_k_exclude_rope=4)  # (B, heads, N, M)
        values = attn.split_heads(attn.v_proj(k))
        by_hand = attn.out_proj((weights @ values).transpose(1, 2).flatten(2))
        assert torch.allclose(attn(q, k, k, num_k_exclude_rope=4), by_hand, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(()), atol=1e-5) and weights.shape == (2, attn.num_heads, 16, 36)


def test_attention_weight_teaches_memory_attention_to_carry_labels(tmp_path: Path, shared_data: Path) -> None:
    """--attention-weight: a few steps with it lower the attention loss more than the same
    steps without it; losses.csv logs the term only when asked for."""
    import numpy as np

    from masklet.train.clip import PromptProbabilities, clip_losses
    from masklet.train.trainer import ClipSampler

    big = tmp_path / "big"  # objects of several tokens each at this input
    write_dataset(big, "train", 2, shared_data, GeneratorConfig(width=96, height=64, num_frames=3, max_objects=1, object_size=(0.6, 0.8)))
    frames, masks = ClipSampler(big, 128, 3).sample_batch(np.random.default_rng(5), 2)
    after = {}
    for weight in (0.0, 5.0):
        cfg = TrainConfig(steps=10, lr=1e-3, clip_len=3, batch_size=2, progress=False, attention_weight=weight, seed=3,
                          freeze_image_encoder=True)
        run = train("sam2.1_hiera_t", big, tmp_path / str(weight), cfg, init="standin", device="cpu", image_size=128)
        logged = [r["attention"] for r in csv.DictReader(open(tmp_path / str(weight) / "losses.csv"))]
        assert all(logged) if weight else not any(logged), logged
        with torch.no_grad():
            terms = clip_losses(run.model.eval(), frames, masks, torch.Generator().manual_seed(0), PromptProbabilities(mask=1.0),
                                attention_weight=1.0)
        after[weight] = terms.attention.item()
    assert after[5.0] < 0.8 * after[0.0] and after[0.0] > 0, after
