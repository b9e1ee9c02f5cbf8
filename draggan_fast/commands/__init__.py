"""Sub-commands of the `draggan-fast` CLI, discovered by `draggan_fast.cli` (one per module)."""
