"""Errors raised while reading generator checkpoints."""


class CheckpointError(Exception):
    """A checkpoint could not be loaded; the message names the problem and the file."""
