"""Runtime state lives only under var/: a checkout that migrates and runs a worker and a beat stays clean.

The processes run in a fresh git clone of the working tree (uncommitted work included), with nothing
configured, so they use the embedded defaults: SQLite and kombu's filesystem broker under var/.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import OMEN_VARIABLES, ROOT, wait_until

pytestmark = pytest.mark.slow


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=OMEN tests", "-c", "user.email=tests@omen.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def checkout(tmp_path, settings) -> Path:
    """A committed copy of the working tree: tracked and untracked-but-not-ignored files, as on disk."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("about the embedded defaults (SQLite, filesystem broker); this pass runs on PostgreSQL")
    clone = tmp_path / "checkout"
    for name in git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0"):
        source = ROOT / name
        if name and (source.is_file() or source.is_symlink()):  # a deleted, not yet staged file is skipped
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name, follow_symlinks=False)
    git(clone, "init", "--quiet")
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--no-gpg-sign", "--message", "the working tree")
    return clone


@pytest.fixture
def defaults_env() -> dict[str, str]:
    """Nothing configured: no var dir, database, broker or ledger location, and no .env file."""
    env = {k: v for k, v in os.environ.items() if k not in OMEN_VARIABLES | {"OMEN_VAR_DIR"}}
    env["OMEN_ENV_FILE"] = "/dev/null"
    return env


def test_migrate_worker_and_beat_write_nothing_outside_var(checkout, defaults_env):
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=checkout,
        env=defaults_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert (checkout / "var" / "omen.sqlite3").is_file()  # the defaults were used, in this checkout

    logs = {name: checkout.parent / f"{name}.log" for name in ("worker", "beat")}
    processes = {}
    try:
        for name, log_path in logs.items():
            with open(log_path, "wb") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "omen_site", name, "--loglevel=INFO"],
                    cwd=checkout,
                    env=defaults_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        def logged(name, text):
            def seen():
                assert processes[name].poll() is None, logs[name].read_text()[-3000:]
                return text in logs[name].read_text()

            return seen

        wait_until(logged("worker", " ready."), 60, "the worker to be ready")
        wait_until(logged("beat", "Sending due task"), 60, "the beat to send a task")
        for process in processes.values():
            # The main processes only: a worker's pool processes die on SIGTERM, mid-task.
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Celery beat can lose a SIGTERM that lands during one of its SQLite writes: the
                # SystemExit its handler raises becomes "Cannot operate on a closed database",
                # which the scheduler logs and goes on (seen once in CI). Asked again, most likely
                # while it sleeps between ticks, it stops.
                process.terminate()
                process.wait(timeout=30)
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    assert git(checkout, "status", "--porcelain", "--untracked-files=all") == ""
    # Ignored by .gitignore, so git status cannot see it: kombu's default exchange folder.
    assert not (checkout / "control").exists()
