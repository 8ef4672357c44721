"""Durable files: what a write must do before a later step may count on it."""

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file's contents, or a directory's entries (a rename or unlink in it), by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
