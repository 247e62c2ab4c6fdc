"""masklet.runtime: the exported ONNX graphs run by onnxruntime with numpy around them,
against the torch path on the shared photos (masklet-nano's packaged weights and SAM 2.1
tiny under stand-in weights), and in a process where torch cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime", reason="the runtime extra (onnxruntime) is part of the test extra")
pytest.importorskip("onnxscript", reason="exporting needs onnx and onnxscript (part of the test extra)")

import masklet
from masklet.runtime import ImagePredictor, VideoPredictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "parity"))
from video_cases import SCENARIOS, frames_dir, run_steps

from onnx_graphs import MODELS, masklet_cli

PROMPTS = [
    dict(point_coords=[[500, 375]], point_labels=[1]),
    dict(point_coords=[[500, 375], [1125, 625]], point_labels=[1, 0], multimask_output=False),
    dict(box=[75, 275, 1725, 850], multimask_output=False),
    dict(box=[[75, 275, 1725, 850], [425, 600, 700, 875]], multimask_output=False),
    dict(box=[425, 600, 700, 875], point_coords=[[575, 750]], point_labels=[1]),
]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


@pytest.mark.parametrize("name", list(MODELS))
def test_image_masks_equal_the_torch_path(exported, name: str, shared_data: Path) -> None:
    torch_side = masklet.SAM2ImagePredictor(masklet.build_sam2(name, MODELS[name], device="cpu"))
    runtime = ImagePredictor(exported[name])
    for photo in ("truck", "groceries"):
        image = np.array(Image.open(shared_data / "images" / f"{photo}.jpg").convert("RGB"))
        torch_side.set_image(image)
        runtime.set_image(image)
        h, w = image.shape[:2]
        for prompt in PROMPTS:
            # The prompts were placed on the truck photo: scale them to this one.
            scaled = {k: (np.asarray(v, float) * ([w / 1800, h / 1200] * (2 if k == "box" else 1)) if k in ("box", "point_coords") else v)
                      for k, v in prompt.items()}
            ours, scores, low = runtime.predict(**scaled)
            theirs, t_scores, t_low = torch_side.predict(**scaled)
            assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
            live = [0.0 < b.mean() < 1.0 for b in theirs.reshape(-1, h, w)]
            assert any(live), "every torch mask is empty or full: the comparison would agree with anything"
            for a, b, ok in zip(ours.reshape(-1, h, w), theirs.reshape(-1, h, w), live):
                # An empty (or full) candidate must be as empty here; the logits are compared below.
                assert iou(a > 0, b > 0) >= 0.99 if ok else np.array_equal(a > 0, b > 0), (photo, prompt)
            np.testing.assert_allclose(scores, t_scores, atol=1e-3)
            np.testing.assert_allclose(low, t_low, atol=2e-2)
        # A refinement: the low-res logits fed back as the mask input.
        first = runtime.predict(point_coords=[[w // 3, h // 3]], point_labels=[1])
        again = dict(point_coords=[[w // 3, h // 3]], point_labels=[1], mask_input=first[2][np.argmax(first[1])][None],
                     multimask_output=False)
        assert iou(runtime.predict(**again)[0] > 0, torch_side.predict(**again)[0] > 0) >= 0.99


def test_the_runtime_runs_where_torch_cannot_be_imported(exported, shared_data: Path) -> None:
    script = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is not installed here")
sys.meta_path.insert(0, NoTorch())
import numpy as np
from PIL import Image
import masklet.runtime
p = masklet.runtime.ImagePredictor({str(exported['masklet-nano'])!r})
p.set_image(np.array(Image.open({str(shared_data / 'images' / 'truck.jpg')!r}).convert("RGB")))
masks, scores, low = p.predict(point_coords=[[500, 375]], point_labels=[1])
assert masks.shape == (3, 1200, 1800) and low.shape[0] == 3
v = masklet.runtime.VideoPredictor({str(exported['masklet-nano'])!r})
state = v.init_state({str(shared_data / 'videos' / '01_dog.mp4')!r})
v.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[600, 450]], labels=[1])
frames = [t for t, ids, m in v.propagate_in_video(state, max_frame_num_to_track=3)]
assert frames == [0, 1, 2, 3], frames
assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
print("ok", masks.mean())
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


def test_export_refuses_a_foreign_folder_and_the_runtime_names_a_bad_one(exported, tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    r = masklet_cli("export-onnx", "masklet-nano", "-o", str(mine))
    assert r.returncode == 2 and "did not write" in r.stderr
    assert (mine / "keep.txt").read_text() == "mine" and len(list(mine.iterdir())) == 1
    with pytest.raises(masklet.errors.BadInput, match="export-onnx"):
        ImagePredictor(tmp_path)
    predictor = ImagePredictor(exported["masklet-nano"])
    with pytest.raises(masklet.errors.NotReady, match="set_image"):
        predictor.predict(point_coords=[[1, 1]], point_labels=[1])
    predictor.set_image(np.zeros((40, 60, 3), np.uint8))
    with pytest.raises(masklet.errors.BadPrompt, match="one label per point"):
        predictor.predict(point_coords=[[1, 1], [2, 2]], point_labels=[1])


@pytest.mark.parametrize("name", list(MODELS))
def test_memory_graphs_equal_the_torch_blocks(exported, name: str) -> None:
    """The video path's graphs: memory encoder (mask squashed or binarised) and memory
    attention over 1 and 5 memory frames with 1 and 7 object pointers (dynamic sizes)."""
    import torch

    from masklet.model.sam2 import MemoryTokens
    from masklet.runtime import Graphs

    model = masklet.build_sam2(name, MODELS[name], device="cpu")
    graphs = Graphs(exported[name])
    info = graphs.manifest
    cfg = model.cfg
    e, s = cfg.image_embedding_size, cfg.image_size
    g = torch.Generator().manual_seed(0)
    vision, vision_pos = torch.randn(1, cfg.prompt_embed_dim, e, e, generator=g), torch.randn(1, cfg.prompt_embed_dim, e, e, generator=g)
    logits = 8 * torch.randn(1, 1, s // 8, s // 8, generator=g).repeat_interleave(8, -1).repeat_interleave(8, -2)
    with torch.inference_mode():
        for binarize, score in ((1.0, 3.0), (0.0, -2.0)):
            mask = (logits > 0).float() if binarize else torch.sigmoid(logits)
            want = model.encode_memory_mask(vision, mask, torch.tensor([[score]]))
            got = graphs.run("memory_encoder", vision_feats=vision.numpy(), high_res_masks=logits.numpy(),
                             object_score_logits=np.array([[score]], np.float32), binarize=np.array([binarize], np.float32))
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b.numpy(), atol=1e-4)
        per, split, c_mem = info["memory_frame_tokens"], info["pointer_tokens"], cfg.memory_encoder.out_dim
        for frames, pointers in ((1, 1), (5, 7)):
            memory, memory_pos = (torch.randn(1, frames * per, c_mem, generator=g) for _ in range(2))
            ptr, ptr_pos = (torch.randn(1, pointers * split, c_mem, generator=g) for _ in range(2))
            tokens = MemoryTokens(torch.cat([memory, ptr], 1), torch.cat([memory_pos, ptr_pos], 1), pointers * split)
            want = model.condition_on_memory(vision, vision_pos, tokens)
            got = graphs.run("memory_attention", vision_feats=vision.numpy(), vision_pos=vision_pos.numpy(), memory=memory.numpy(),
                             memory_pos=memory_pos.numpy(), pointers=ptr.numpy(), pointers_pos=ptr_pos.numpy())[0]
            assert got.shape == tuple(want.shape)
            np.testing.assert_allclose(got, want.numpy(), atol=1e-3, rtol=1e-4)


def test_every_public_name_resolves_lazily() -> None:
    """`import masklet` loads names on first use; each listed one exists (and no others)."""
    assert sorted(masklet.__all__) == sorted(masklet._EXPORTS)
    for name in masklet.__all__:
        assert getattr(masklet, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        masklet.nothing_here  # noqa: B018


# Two objects (clicks, a box), a refinement, propagation, a click on a tracked frame, a
# mask for a third object added later, reverse propagation: the heavier models' scenario.
SHORT_SCENARIO = [
    ("points", dict(frame_idx=0, obj_id=1, points=[[300, 250]], labels=[1])),
    ("points", dict(frame_idx=0, obj_id=2, box=[600, 150, 900, 450])),
    ("points", dict(frame_idx=0, obj_id=1, points=[[300, 250], [250, 400]], labels=[1, 0])),
    ("propagate", dict(max_frame_num_to_track=2)),
    ("points", dict(frame_idx=1, obj_id=1, points=[[420, 260]], labels=[1])),
    ("mask", dict(frame_idx=2, obj_id=3)),
    ("propagate", dict(start_frame_idx=3, reverse=True)),
]


@pytest.mark.parametrize("name", list(MODELS))
def test_video_masks_equal_the_torch_path(exported, name: str, tmp_path: Path) -> None:
    """The same steps through the official API on both: masklet-nano the whole parity
    scenario (refinement, reverse, an object added after tracking, a removal, a reset),
    the others the short one; every returned mask IoU >= 0.95, the mean >= 0.99."""
    steps = SCENARIOS["sam2.1_hiera_t"] if name == "masklet-nano" else SHORT_SCENARIO
    video = frames_dir(tmp_path / "bedroom8")
    runtime = VideoPredictor(exported[name])
    ours = run_steps(runtime, runtime.init_state(str(video)), steps)
    torch_side = masklet.build_sam2_video_predictor(name, MODELS[name], device="cpu")
    theirs = run_steps(torch_side, torch_side.init_state(str(video)), steps)
    assert sorted(ours) == sorted(theirs), "different steps, frames or objects were returned"
    ious, areas = [], []
    for key in (k for k in sorted(theirs) if k.endswith("/masks")):
        np.testing.assert_array_equal(ours[key.replace("/masks", "/obj_ids")], theirs[key.replace("/masks", "/obj_ids")])
        for a, b in zip(np.unpackbits(ours[key], axis=-1).astype(bool), np.unpackbits(theirs[key], axis=-1).astype(bool)):
            ious.append(1.0 if not (a | b).any() else iou(a, b))
            areas.append(b.mean())
            assert ious[-1] >= 0.95, (key, ious[-1])
    assert np.mean(ious) >= 0.99, np.mean(ious)
    # Empty or full masks would agree with anything: most are neither.
    assert np.mean([0 < a < 0.9 for a in areas]) > 0.7, np.round(areas, 4)


def test_video_runtime_errors_are_masklets(exported, tmp_path: Path) -> None:
    predictor = VideoPredictor(exported["masklet-nano"])
    state = predictor.init_state(str(frames_dir(tmp_path / "bedroom8")))
    with pytest.raises(masklet.errors.NotReady, match="no object"):
        next(predictor.propagate_in_video(state))
    with pytest.raises(masklet.errors.FrameOutOfRange, match="out of range"):
        predictor.add_new_points_or_box(state, frame_idx=99, obj_id=1, points=[[1, 1]], labels=[1])
    with pytest.raises(masklet.errors.BadPrompt, match="one label per point"):
        predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[1, 1], [2, 2]], labels=[1])
    with pytest.raises(masklet.errors.UnknownObject):
        predictor.remove_object(state, 5, strict=True)


def test_video_memory_stays_flat_on_a_long_clip(exported, shared_data: Path) -> None:
    """Tracked frames that leave the memory window release their memory and spill their
    logits; a frame reached again (reverse) is answered from them; close() cleans up."""
    from masklet.inference.memory_bank import memory_window

    predictor = VideoPredictor(exported["masklet-nano"])
    state = predictor.init_state(str(shared_data / "videos" / "bedroom.mp4"))
    predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[300, 250]], labels=[1])
    forward = {t: m for t, _, m in predictor.propagate_in_video(state, max_frame_num_to_track=40)}
    assert sorted(forward) == list(range(41))
    obj = state.objects[1]
    kept = [t for t, out in obj.non_cond_outputs.items() if out.maskmem_features is not None]
    assert len(kept) <= memory_window(predictor.cfg) + 1 and max(kept) == 40
    spilled = sorted(state.scratch.iterdir())
    assert len(spilled) == 41 - len(kept) - 1  # frame 0 is the prompted one: it stays
    assert not obj.non_cond_outputs[5].in_memory  # read back from its scratch file:
    assert obj.non_cond_outputs[5].pred_masks.shape == obj.non_cond_outputs[40].pred_masks.shape
    back = {t: m for t, _, m in predictor.propagate_in_video(state, start_frame_idx=10, reverse=True)}
    assert sorted(back) == list(range(11)) and (back[0] > 0).any()
    scratch = state.scratch
    state.close()
    assert not scratch.exists()


def test_stream_equals_the_torch_stream(exported, shared_data: Path) -> None:
    """Frames pushed one at a time, prompts on the newest (a new object on frame 3, a
    correction on frame 6): the runtime's VideoStream gives the torch VideoStream's masks."""
    from PIL import Image

    from masklet.runtime import VideoStream

    frames = [np.array(Image.open(shared_data / "videos" / "bedroom" / f"{i:05d}.jpg").convert("RGB")) for i in range(10)]
    prompts = {0: {1: {"points": [[300, 250]], "labels": [1]}}, 3: {2: {"box": [600, 150, 900, 450]}},
               6: {1: {"points": [[420, 260]], "labels": [1]}}}
    ours = VideoStream(exported["masklet-nano"])
    theirs = masklet.VideoStream(masklet.build_sam2_video_predictor("masklet-nano", device="cpu").predictor)
    ious, empty = [], 0
    for i, frame in enumerate(frames):
        frame_idx, obj_ids, masks = ours.step(frame, prompts.get(i))
        want = theirs.step(frame, prompts.get(i))
        assert (frame_idx, obj_ids) == (want.frame_idx, want.obj_ids)
        for a, b in zip(masks > 0, want.masks.numpy() > 0):
            if b.any():
                ious.append(iou(a, b))
            else:  # an object lost by the torch stream must be lost here too
                assert not a.any(), (i, "the torch mask is empty, ours is not")
                empty += 1
    assert len(ious) > empty, "mostly empty torch masks: the comparison would say little"
    assert min(ious) >= 0.95 and np.mean(ious) >= 0.99, ious
    ours.close()
