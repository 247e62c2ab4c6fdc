"""Data: DAVIS-layout datasets, and procedurally generated videos with exact masks."""

from .davis import first_masks, list_sequences, read_annotation
from .generator import GeneratorConfig, generate_sequence, write_dataset

__all__ = ["GeneratorConfig", "first_masks", "generate_sequence", "list_sequences", "read_annotation", "write_dataset"]
