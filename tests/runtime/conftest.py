"""The exported graphs the runtime tests share, made once per test run."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime", reason="the runtime extra (onnxruntime) is part of the test extra")
pytest.importorskip("onnxscript", reason="exporting needs onnx and onnxscript (part of the test extra)")

from onnx_graphs import Exported  # noqa: E402


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Exported:
    return Exported(tmp_path_factory.mktemp("onnx"))
