"""A folder written by `masklet export-onnx`: its manifest, graphs and parameters."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import BadInput

FORMAT_VERSION = 1


class Graphs:
    """The onnxruntime sessions of an exported model, opened on first use."""

    def __init__(self, folder: str | os.PathLike, threads: int | None = None, int8: bool = False) -> None:
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        if not path.is_file():
            raise BadInput(f"{self.folder}: no manifest.json; write the graphs with `masklet export-onnx MODEL -o {self.folder}`")
        self.manifest = json.loads(path.read_text())
        if self.manifest.get("format") != FORMAT_VERSION:
            raise BadInput(f"{self.folder}: graphs of format {self.manifest.get('format')!r}, this masklet reads "
                           f"{FORMAT_VERSION}; export them again with this version")
        with np.load(self.folder / "params.npz") as params:
            self.params = {k: params[k] for k in params.files}
        self.threads = threads
        self.int8 = int8
        if int8 and "image_encoder_int8" not in self.manifest["graphs"]:
            raise BadInput(f"{self.folder} has no int8 image encoder: export with `masklet export-onnx MODEL --int8 -o DIR`")
        self._sessions: dict = {}
        self._opening = threading.Lock()  # sessions are shared by threads (the service): each opened once

    def session(self, name: str):
        """The onnxruntime InferenceSession of one graph."""
        with self._opening:
            if name not in self._sessions:
                self._sessions[name] = self._open(name)
        return self._sessions[name]

    def _open(self, name: str):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        graph = "image_encoder_int8" if (name == "image_encoder" and self.int8) else name
        file = self.folder / self.manifest["graphs"][graph]
        if not file.is_file():
            raise BadInput(f"{file}: missing; export the graphs again")
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])

    def run(self, name: str, **inputs: np.ndarray) -> list[np.ndarray]:
        """Run one graph on named inputs; its outputs in order."""
        return self.session(name).run(None, inputs)

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])
