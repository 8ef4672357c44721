"""Where browser tests keep their screenshots: var/test-artifacts/<name>-<backend>/ (git-ignored),
so a run's pages can be looked at after it, CI's included."""

from pathlib import Path

from django.conf import settings
from django.db import connection


def artifact_dir(name: str) -> Path:
    directory = Path(settings.VAR_DIR) / "test-artifacts" / f"{name}-{connection.vendor}"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
