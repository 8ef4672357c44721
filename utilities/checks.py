"""Pieces of system checks that any app's checks may share."""

import os
from pathlib import Path

from django.core.checks import Error


def writable_directory_errors(setting: str, directory: Path, check_id: str) -> list[Error]:
    """The directory a setting names exists (or can be made) and this process can write in it."""
    hint = f"Set {setting} to a directory this process can write, or fix its permissions."
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [Error(f"{setting} {directory} cannot be created: {exc.strerror}.", hint=hint, id=check_id)]
    if not os.access(directory, os.W_OK | os.X_OK):
        return [Error(f"{setting} {directory} is not writable by this process.", hint=hint, id=check_id)]
    return []
