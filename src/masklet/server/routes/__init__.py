"""The service's routes, one module per resource: sessions (and their frames), objects
(prompts, renaming, removal), propagation, and downloads of the masks."""
