"""Shared fixtures: stand-in checkpoints in the official format and the shared real data."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKLET_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (DATA / "images" / "truck.jpg").is_file():
        pytest.fail(f"shared data not found at {DATA}: set MASKLET_SHARED_DATA to the shared/data folder")
    return DATA


@pytest.fixture(scope="session")
def truck(shared_data: Path) -> np.ndarray:
    return np.array(Image.open(shared_data / "images" / "truck.jpg").convert("RGB"))


@pytest.fixture(scope="session")
def groceries(shared_data: Path) -> np.ndarray:
    return np.array(Image.open(shared_data / "images" / "groceries.jpg").convert("RGB"))


@pytest.fixture(scope="session")
def standin_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """A function config -> path of an official-format stand-in checkpoint (made once)."""
    from masklet.standin import save_standin_checkpoint

    folder = Path(os.environ.get("MASKLET_STANDIN_DIR", tmp_path_factory.mktemp("standin")))
    made: dict[str, Path] = {}

    def make(config: str) -> Path:
        if config not in made:
            path = folder / f"{config}.pt"
            made[config] = path if path.is_file() else save_standin_checkpoint(config, path)
        return made[config]

    return make


@pytest.fixture(scope="session")
def tiny_model(standin_checkpoint):
    """sam2.1_hiera_t with stand-in weights, built as users build it."""
    import masklet

    return masklet.build_sam2("sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu")


@pytest.fixture(scope="session")
def small_video_predictor(standin_checkpoint):
    """The official API over a small-input model: the same code paths, 16x cheaper."""
    import masklet

    return masklet.build_sam2_video_predictor(
        "sam2.1_hiera_t", standin_checkpoint("sam2.1_hiera_t"), device="cpu", fill_hole_area=0, image_size=256
    )


@pytest.fixture(scope="session")
def bedroom_frames(shared_data: Path) -> np.ndarray:
    """The first 24 frames of the shared bedroom clip, downscaled to 240x135."""
    from masklet.inference.video_io import open_video

    src = open_video(shared_data / "videos" / "bedroom")
    return np.stack([np.asarray(Image.fromarray(src.frame(i)).resize((240, 135))) for i in range(24)])


@pytest.fixture(scope="session")
def nano_predictor():
    """masklet's VideoPredictor over the packaged masklet-nano."""
    import masklet
    from masklet.inference.video_predictor import VideoPredictor

    return VideoPredictor(masklet.build_model("masklet-nano", "masklet-nano", device="cpu"))


@pytest.fixture(scope="session")
def serve(nano_predictor) -> Iterator[Callable[..., str]]:
    """serve(**settings) -> base URL of a running masklet service on a free localhost port."""
    import uvicorn

    from masklet.server import ServerSettings, create_app

    running = []

    def start(predictor=None, **settings: object) -> str:
        app = create_app(ServerSettings(**settings), predictor=predictor or nano_predictor)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        running.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def png_bomb() -> Callable[[int, int], bytes]:
    """png_bomb(width, height) -> a grey PNG of that size in a few hundred KB, built row by
    row (never held whole): decoding it would take width x height bytes or more."""
    return _png_bomb


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row, parts = zlib.compressobj(9), b"\x00" * (width + 1), []
    for _ in range(height):
        parts.append(z.compress(row))
    parts.append(z.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
