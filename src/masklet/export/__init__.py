"""Exports of a model for other runtimes (ONNX graphs for masklet.runtime)."""
