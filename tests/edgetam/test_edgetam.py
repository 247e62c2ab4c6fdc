"""EdgeTAM in masklet beyond its reference: folded weights equal the trained layout,
several objects in one session and objects added after tracking started (which the
reference cannot do), streaming, and the tools (CLI, service, eval, train) on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

import masklet
from masklet.inference.video_predictor import VideoPredictor
from masklet.model.repvit import ConvBN, RepViT, RepVggDw


@pytest.fixture(scope="module")
def edgetam(standin_checkpoint):
    """EdgeTAM with stand-in weights, at 256 pixels (the memory grid 16 x 16, one token per window)."""
    return masklet.build_model("edgetam", standin_checkpoint("edgetam"), device="cpu", image_size=256)


def test_folded_batch_norms_and_branches_equal_the_trained_layout(edgetam) -> None:
    trunk: RepViT = edgetam.image_encoder.trunk
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    mixers = [m for m in trunk.modules() if isinstance(m, RepVggDw)]
    with torch.no_grad():
        folded = trunk(x)  # eval: one convolution per ConvBN, one per token mixer
        assert len(mixers) == 23 and all(m._folded is not None for m in mixers)
        trunk.train()  # training drops the folded weights
        assert all(m._folded is None for m in mixers)
        for m in trunk.modules():  # the trained layout with the batch norms' running statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
        separate = trunk(x)
        trunk.eval()
    for a, b in zip(folded, separate):
        assert not torch.equal(a, b)  # really two computations
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # New weights are folded anew: a load drops the derived ones.
    state = {k: v.clone() for k, v in trunk.state_dict().items()}
    key = "body.stages_0.blocks.0.token_mixer.conv.bn.weight"
    state[key] *= 2
    with torch.no_grad():
        trunk(x)
    trunk.load_state_dict(state)
    assert all(m._folded is None for m in trunk.modules() if isinstance(m, (ConvBN, RepVggDw)))
    with torch.no_grad():
        changed = trunk(x)
    assert not torch.allclose(changed[0], folded[0])
    state[key] /= 2
    trunk.load_state_dict(state)


def _track(predictor: VideoPredictor, frames, prompts: list[tuple[int, int, list]], then: list[tuple[int, int, list]] = ()):
    """{obj_id: {frame: mask}} after prompts, a propagation, more prompts and another."""
    session = predictor.start(frames)
    masks: dict[int, dict[int, np.ndarray]] = {}
    for batch in (prompts, then):
        for frame, obj_id, point in batch:
            predictor.add_points(session, frame, obj_id, [point], [1])
        if batch:
            for r in predictor.propagate(session):
                for i, obj_id in enumerate(r.obj_ids):
                    masks.setdefault(obj_id, {})[r.frame_idx] = (r.masks[i, 0] > 0).numpy()
    return masks


def test_several_objects_in_one_session_and_one_added_later(edgetam, bedroom_frames) -> None:
    """Each object is tracked on its own: in one session, and joined after tracking
    started, its masks are those of a session of its own (the reference fails on both)."""
    predictor = VideoPredictor(edgetam, fill_hole_area=0)
    frames = list(bedroom_frames[:6])
    a, b = (0, 1, [60, 60]), (0, 2, [180, 90])
    together = _track(predictor, frames, [a, b])
    later = _track(predictor, frames, [a], then=[b])
    alone = {1: _track(predictor, frames, [a])[1], 2: _track(predictor, frames, [b])[2]}
    for obj_id in (1, 2):
        for t in range(6):
            assert np.array_equal(together[obj_id][t], alone[obj_id][t]), (obj_id, t)
            assert np.array_equal(later[obj_id][t], alone[obj_id][t]), (obj_id, t)
    assert 0.001 < np.mean([m.mean() for m in alone[1].values()]) < 0.9  # real masks, not empty or full
    assert not np.array_equal(alone[1][3], alone[2][3])


def test_a_stream_keeps_memory_flat(edgetam, bedroom_frames) -> None:
    stream = masklet.VideoStream(VideoPredictor(edgetam, fill_hole_area=0))
    stream.step(bedroom_frames[0], {1: {"points": [[60, 60]], "labels": [1]}})
    for i in range(1, 20):
        r = stream.step(bedroom_frames[i])
    obj = stream.session.objects[1]
    window = edgetam.cfg.max_obj_ptrs_in_encoder
    assert r.masks.shape == (1, 1, 135, 240) and len(obj.non_cond_outputs) <= window
    assert obj.cond_outputs[0].maskmem_features.shape == (1, 512, 64)  # compressed: 256 global + 16 x 16 spatial
    stream.close()


def masklet_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True)


def test_the_command_line_tracks_evaluates_and_trains_edgetam(tmp_path: Path, shared_data: Path, standin_checkpoint) -> None:
    ckpt = str(standin_checkpoint("edgetam"))
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(4):
        (clip / f"{i:05d}.jpg").symlink_to(shared_data / "videos" / "bedroom" / f"{i:05d}.jpg")
    r = masklet_cli("track", str(clip), "--model", "edgetam", "--checkpoint", ckpt, "--point", "300,250", "-o", str(tmp_path / "out"), "-q")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
    r = masklet_cli("models")
    assert r.returncode == 0 and "edgetam" in r.stdout and "13.9M" in r.stdout
    data = tmp_path / "data"
    assert masklet_cli("generate", str(data), "-n", "1", "--frames", "3", "--size", "96x64").returncode == 0
    r = masklet_cli("eval", str(data), "--model", "edgetam", "--checkpoint", ckpt, "--image-size", "256", "-q")
    assert r.returncode == 0 and "overall" in r.stdout, r.stderr
    r = masklet_cli("train", str(data), str(tmp_path / "run"), "--model", "edgetam", "--init", ckpt, "--steps", "1",
                    "--clip-len", "2", "--image-size", "256")
    assert r.returncode == 0, r.stderr
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    assert "spatial_perceiver.latents_2d" in trained and "image_encoder.trunk.body.stem.conv1.bn.running_var" in trained


def test_the_service_serves_edgetam(serve, edgetam, shared_data: Path) -> None:
    base = serve(predictor=VideoPredictor(edgetam, fill_hole_area=0), data_root=shared_data)
    with httpx.Client(base_url=base, timeout=120) as client:
        assert client.get("/api/info").json()["model"] == "edgetam"
        sid = client.post("/api/sessions", data={"path": "videos/bedroom"}).json()["session_id"]
        assert client.post(f"/api/sessions/{sid}/prompts", json={"points": [[300, 250]]}).status_code == 200
        assert client.post(f"/api/sessions/{sid}/prompts", json={"obj_id": 2, "box": [600, 150, 900, 450]}).status_code == 200
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"max_frames": 2}) as r:
            events = [line for line in r.iter_lines() if line.startswith("event: ")]
        assert events == ["event: frame"] * 3 + ["event: done"]
        client.delete(f"/api/sessions/{sid}")
