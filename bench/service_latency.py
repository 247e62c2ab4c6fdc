"""Click-to-mask latency through the HTTP service, and propagation through it vs the Python API.

    .venv/bin/python bench/service_latency.py [--clicks 20] [--frames 30] [--models masklet-nano sam2.1_hiera_t]

For each model a real `masklet serve` runs in its own process on a free localhost port
(masklet-nano with its packaged weights; official configs with deterministic stand-in
weights, the same speed as the real ones). The client opens the shared truck photo
(the session embeds it as it opens), clicks once, then `--clicks` more times on other points:
each is the full HTTP round trip of POST .../prompts plus decoding the returned RLE into
the mask the page draws (the embedding is cached). Then it opens the first `--frames`
frames of the shared bedroom clip, clicks, and propagates, reading the server-sent
events; the same propagation through the Python API (VideoPredictor) runs in this process
with the same threads, for the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CLICKS = [(900, 700), (400, 500), (1300, 600), (700, 300), (1500, 900), (200, 800)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, data_root: Path, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    checkpoint = [] if model == "masklet-nano" else ["--checkpoint", "standin"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "masklet", "serve", "--port", str(port), "--model", model, *checkpoint, "--data-root", str(data_root),
         "--device", "cpu", "-q"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/api/info", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited: {proc.stderr.read().decode()}")
    raise RuntimeError("the service did not start in 120 s")


def click_latency(base: str, clicks: int) -> dict[str, float]:
    from masklet.rle import rle_decode

    with httpx.Client(base_url=base, timeout=600) as client:
        sid = client.post("/api/sessions", data={"path": "truck.jpg"}).json()["session_id"]
        t0 = time.perf_counter()
        client.post(f"/api/sessions/{sid}/prompts", json={"points": [list(CLICKS[0])]}).raise_for_status()
        first = time.perf_counter() - t0
        times = []
        for k in range(clicks):
            x, y = CLICKS[1 + k % (len(CLICKS) - 1)]
            t0 = time.perf_counter()
            r = client.post(f"/api/sessions/{sid}/prompts", json={"obj_id": 1 + k % 3, "points": [[x, y]], "clear_old_points": True})
            r.raise_for_status()
            for m in r.json()["masks"]:
                rle_decode(m["rle"])  # what the page does before drawing
            times.append(time.perf_counter() - t0)
        client.delete(f"/api/sessions/{sid}")
    return {"first": first, "median": statistics.median(times), "p90": float(np.percentile(times, 90))}


def service_propagation(base: str, frames: int) -> float:
    with httpx.Client(base_url=base, timeout=600) as client:
        sid = client.post("/api/sessions", data={"path": "clip"}).json()["session_id"]
        client.post(f"/api/sessions/{sid}/prompts", json={"points": [[300, 250]]}).raise_for_status()
        t0 = time.perf_counter()
        count = 0
        with client.stream("POST", f"/api/sessions/{sid}/propagate", json={}) as r:
            for line in r.iter_lines():
                count += line.startswith("event: frame")
        elapsed = time.perf_counter() - t0
        client.delete(f"/api/sessions/{sid}")
    assert count == frames, (count, frames)
    return frames / elapsed


def api_propagation(model: str, clip: Path, frames: int) -> float:
    import masklet
    from masklet.inference.video_predictor import VideoPredictor

    predictor = VideoPredictor(masklet.build_model(model, "masklet-nano" if model == "masklet-nano" else "standin", device="cpu"))
    warm = predictor.start(clip)  # the service was warmed by the clicks: warm this process too
    predictor.add_points(warm, 0, 1, points=[[300, 250]], labels=[1])
    for _ in predictor.propagate_directions(warm, max_frame_num_to_track=1):
        pass
    session = predictor.start(clip)
    predictor.add_points(session, 0, 1, points=[[300, 250]], labels=[1])
    t0 = time.perf_counter()
    count = sum(1 for r in predictor.propagate_directions(session) if r.masks is not None)  # masks resized as read
    assert count == frames
    return frames / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["masklet-nano", "sam2.1_hiera_t"])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30, help="frames propagated (masklet-nano); official models use a sixth")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="masklet-bench-"))
    shutil.copy(DATA / "images" / "truck.jpg", root / "truck.jpg")
    rows = []
    try:
        for model in args.models:
            frames = args.frames if model == "masklet-nano" else max(2, args.frames // 6)
            clip = root / "clip"
            shutil.rmtree(clip, ignore_errors=True)
            clip.mkdir()
            for i in range(frames):
                shutil.copy(DATA / "videos" / "bedroom" / f"{i:05d}.jpg", clip / f"{i:05d}.jpg")
            proc, base = start_server(model, root, args.threads)
            try:
                latency = click_latency(base, args.clicks)
                served = service_propagation(base, frames)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            direct = api_propagation(model, clip, frames)
            rows.append((model, latency, served, direct, frames))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads, torch {torch.__version__}")
    print("click latency: truck.jpg 1800x1200 over HTTP, embedding cached (first click embeds); "
          f"propagation: bedroom clip 960x540, {args.frames} frames (official models: a sixth)\n")
    print("| model | first click | click median | click p90 | service fps | API fps | service overhead |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model, latency, served, direct, frames in rows:
        weights = "packaged" if model == "masklet-nano" else "stand-in"
        print(f"| {model} ({weights}) | {latency['first'] * 1e3:.0f} ms | {latency['median'] * 1e3:.1f} ms | "
              f"{latency['p90'] * 1e3:.1f} ms | {served:.2f} | {direct:.2f} | {100 * (direct / served - 1):+.1f}% |")


if __name__ == "__main__":
    main()
