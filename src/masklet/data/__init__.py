"""Procedurally generated training and evaluation videos with exact masks."""

from .generator import GeneratorConfig, generate_sequence, write_dataset

__all__ = ["GeneratorConfig", "generate_sequence", "write_dataset"]
