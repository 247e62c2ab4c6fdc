"""Exported graphs for the runtime tests: each model exported by `masklet export-onnx`
when first asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODELS = {"masklet-nano": None, "sam2.1_hiera_t": "standin", "edgetam": "standin"}  # name -> --checkpoint


def masklet_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True, check=False)


class Exported(dict):
    """name -> the folder of its graphs, exported when first asked for."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        checkpoint = MODELS[name]
        extra = ["--checkpoint", checkpoint] if checkpoint else []
        r = masklet_cli("export-onnx", name, *extra, "-o", str(self.root / name))
        assert r.returncode == 0, r.stderr[-2000:]
        assert {p.name for p in (self.root / name).iterdir()} >= {"image_encoder.onnx", "prompt_decoder.onnx", "manifest.json", "params.npz"}
        self[name] = self.root / name
        return self[name]
