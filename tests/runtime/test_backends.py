"""`--backend onnx --graphs DIR`: the command line and the service on masklet.runtime,
run in processes where torch cannot be imported, against the torch backend's answers on
the shared photo and clip."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from masklet.cli import main
from masklet.rle import rle_decode
from onnx_graphs import masklet_cli

NO_TORCH = Path(__file__).with_name("no_torch.py")


def without_torch(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(NO_TORCH), *args], capture_output=True, text=True, check=False, **kwargs)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def test_track_on_the_graphs_without_torch_equals_the_torch_backend(exported, shared_data: Path, tmp_path: Path) -> None:
    video = str(shared_data / "videos" / "01_dog.mp4")
    prompts = ["--point", "600,450", "--box", "2@0:100,100,500,600", "--point", "2@3:300,400", "--max-frames", "6"]
    torch_run = masklet_cli("track", video, *prompts, "-o", str(tmp_path / "torch"), "-q")
    assert torch_run.returncode == 0, torch_run.stderr[-2000:]
    onnx_run = without_torch("track", video, *prompts, "--graphs", str(exported["masklet-nano"]), "-o", str(tmp_path / "onnx"),
                             "--rle", str(tmp_path / "onnx.json"))
    assert onnx_run.returncode == 0, onnx_run.stderr[-2000:]
    assert "tracked 2 object(s) over 7 frames" in onnx_run.stdout
    names = sorted(p.name for p in (tmp_path / "onnx").glob("*.png"))
    assert names == sorted(p.name for p in (tmp_path / "torch").glob("*.png")) == [f"{t:05d}.png" for t in range(7)]
    for name in names:
        ours, theirs = (np.asarray(Image.open(tmp_path / side / name)) for side in ("onnx", "torch"))
        for obj in (1, 2):
            # masklet-nano keeps only a sliver of the dog after frame 0 (its limit): still a mask.
            assert 50 < (theirs == obj).sum() < theirs.size // 2, "a degenerate torch mask would agree with anything"
            assert iou(ours == obj, theirs == obj) >= 0.99, (name, obj)
    doc = json.loads((tmp_path / "onnx.json").read_text())
    assert doc["obj_ids"] == [1, 2] and len(doc["frames"]) == 7
    last = np.asarray(Image.open(tmp_path / "onnx" / "00006.png"))
    whole = rle_decode(doc["frames"][6]["masks"]["2"])  # the label map draws later ids over earlier ones
    assert np.array_equal(whole, last == 2)
    assert rle_decode(doc["frames"][6]["masks"]["1"])[last == 1].all()


def test_segment_on_the_graphs_without_torch_equals_the_torch_backend(exported, shared_data: Path, tmp_path: Path) -> None:
    image = str(shared_data / "images" / "truck.jpg")
    for args in (["--point", "500,375"], ["--box", "75,275,1725,850"], ["--point", "500,375", "--point", "1125,625,0"]):
        torch_run = masklet_cli("segment", image, *args, "-o", str(tmp_path / "torch.png"), "-q")
        onnx_run = without_torch("segment", image, *args, "--backend", "onnx", "--graphs", str(exported["masklet-nano"]),
                                 "-o", str(tmp_path / "onnx.png"), "--overlay", str(tmp_path / "overlay.jpg"))
        assert torch_run.returncode == 0 and onnx_run.returncode == 0, onnx_run.stderr[-2000:] + torch_run.stderr[-2000:]
        ours, theirs = (np.asarray(Image.open(tmp_path / f"{side}.png")) > 0 for side in ("onnx", "torch"))
        assert 0.001 < theirs.mean() < 0.99
        assert iou(ours, theirs) >= 0.99, args
        assert Image.open(tmp_path / "overlay.jpg").size == (1800, 1200)


def test_backend_options_that_do_not_fit_are_refused(exported, shared_data: Path, tmp_path: Path) -> None:
    graphs = str(exported["masklet-nano"])
    image, video = str(shared_data / "images" / "truck.jpg"), str(shared_data / "videos" / "01_dog.mp4")
    runner = CliRunner()
    cases = [
        (["segment", image, "--point", "5,5", "--backend", "onnx"], "--backend onnx needs --graphs DIR"),
        (["segment", image, "--point", "5,5", "--backend", "torch", "--graphs", graphs], "--graphs is for --backend onnx"),
        (["segment", image, "--point", "5,5", "--graphs", graphs, "--checkpoint", "standin"], "--checkpoint: for the torch backend"),
        (["track", video, "--point", "5,5", "--graphs", graphs, "--model", "edgetam", "-o", str(tmp_path / "o")], "--model: for the torch"),
        (["segment", image, "--all", "--graphs", graphs], "needs the torch backend"),
        (["track", video, "--all", "--graphs", graphs, "-o", str(tmp_path / "o")], "needs the torch backend"),
        (["serve", "--graphs", graphs, "--speed", "fast"], "--speed: for the torch backend"),
    ]
    for args, message in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert not (tmp_path / "o").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def onnx_service(exported, shared_data: Path, tmp_path: Path):
    """`masklet serve --graphs DIR` in a process where torch cannot be imported."""
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([sys.executable, str(NO_TORCH), "serve", "--graphs", str(exported["masklet-nano"]), "--port", str(port),
                               "--data-root", str(shared_data), "-q"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/api/info", timeout=2)
            break
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail("the service did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=30)
    log.close()


def test_the_service_on_the_graphs_without_torch(onnx_service: str, exported, shared_data: Path) -> None:
    """Sessions on the shared clip in threads at once, each prompted and propagated, give
    the runtime's own masks; segment-everything says it needs the torch backend."""
    from masklet.backends import video_predictor
    from masklet.runtime import VideoPredictor

    info = httpx.get(onnx_service + "/api/info").json()
    assert (info["model"], info["backend"]) == ("masklet-nano", "onnx")
    prompts = [{"frame": 0, "obj_id": 1, "points": [[600, 450]]}, {"frame": 2, "obj_id": 2, "box": [100, 100, 500, 600]}]

    def session_masks() -> dict[int, dict[int, np.ndarray]]:
        with httpx.Client(base_url=onnx_service, timeout=300) as client:
            r = client.post("/api/sessions", data={"path": "videos/01_dog.mp4"})
            assert r.status_code == 201, r.text
            sid = r.json()["session_id"]
            for p in prompts:
                assert client.post(f"/api/sessions/{sid}/prompts", json=p).status_code == 200
            frames = {}
            with client.stream("POST", f"/api/sessions/{sid}/propagate", json={"max_frames": 4}) as stream:
                event = None
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "frame":
                        data = json.loads(line[6:])
                        frames[data["frame"]] = {m["obj_id"]: rle_decode(m["rle"]) for m in data["masks"]}
            r = client.post(f"/api/sessions/{sid}/everything", json={"frame": 0})
            assert r.status_code == 501 and "torch backend" in r.json()["detail"]
            assert client.get(f"/api/sessions/{sid}/masks.zip").status_code == 200
            client.delete(f"/api/sessions/{sid}")
            return frames

    answers: list = [None] * 3

    def run(i: int) -> None:
        try:
            answers[i] = session_masks()
        except BaseException as exc:  # said by the test, not lost in the thread
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer

    predictor = video_predictor(graphs=exported["masklet-nano"])  # what `serve --graphs` runs
    assert isinstance(predictor, VideoPredictor)
    with predictor.start(str(shared_data / "videos" / "01_dog.mp4")) as state:
        predictor.add_points(state, 0, 1, points=[[600, 450]], labels=[1])
        predictor.add_points(state, 2, 2, box=[100, 100, 500, 600])
        want = {r.frame_idx: {obj: r.binary_mask(i) for i, obj in enumerate(r.obj_ids)}
                for r in predictor.propagate_directions(state, "forward", None, 4)}
    assert sorted(want) == [0, 1, 2, 3, 4]
    for frames in answers:
        assert sorted(frames) == sorted(want)
        for t, masks in want.items():
            assert sorted(frames[t]) == [1, 2]
            for obj, mask in masks.items():
                assert 50 < mask.sum() < mask.size // 2, "a degenerate mask would agree with anything"
                assert np.array_equal(frames[t][obj], mask), (t, obj)
