"""Helpers for tests that run OMEN in other processes against a database of their own."""

from __future__ import annotations

import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
# Variables a developer's shell may hold that must not leak into a child process.
OMEN_VARIABLES = {
    "DATABASE_URL", "OMEN_ENV", "CELERY_BROKER_URL", "REDIS_URL", "OMEN_CACHE_BACKEND",
    "LEDGER_DIR", "LEDGER_ARCHIVE_DIR", "LEDGER_DRAIN_ON_COMMIT",
}  # fmt: skip


def admin_connection(db):
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres", autocommit=True
    )


class FreshDatabases:
    """Makes empty databases on the suite's backend and drops them afterwards."""

    def __init__(self, db_settings, tmp_path: Path):
        self.db = db_settings
        self.tmp_path = tmp_path
        self.created: list[str] = []

    def __call__(self) -> str:
        if self.db["ENGINE"].endswith("sqlite3"):
            return f"sqlite:///{self.tmp_path / f'{uuid.uuid4().hex}.sqlite3'}"
        name = f"omen_e2e_{uuid.uuid4().hex[:12]}"
        with admin_connection(self.db) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"postgres://{self.db['USER']}@{self.db['HOST']}:{self.db['PORT'] or 5432}/{name}"

    def drop_all(self) -> None:
        for name in self.created:
            with admin_connection(self.db) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OMEN_VARIABLES}
    env.update(
        DATABASE_URL=database_url,
        OMEN_ENV_FILE="/dev/null",
        OMEN_VAR_DIR=str(var_dir),
        PYTHONHASHSEED=str(uuid.uuid4().int % 4_000_000_000),
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def start_celery(env: dict[str, str], log_path: Path, *celery_args: str, app: str = "omen_site") -> subprocess.Popen:
    """``celery -A <app> <celery_args> --loglevel=INFO``, logging to ``log_path`` for a failed
    test to be read, in a process group of its own: SIGKILL to the group takes the pool children too."""
    with open(log_path, "w") as log:  # the child has its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", app, *celery_args, "--loglevel=INFO"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to a child started in a session of its own (a gunicorn and its workers), SIGKILL if
    it is not gone within 15 s; its stderr pipe closed."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    if process.stderr is not None:
        process.stderr.close()


def query(database_url: str, sql: str) -> list[tuple]:
    """Read a child's database directly (the test's own Django connection points elsewhere)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=20) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(sql).fetchall()


class LineReader:
    """A child's stdout (or ``stream``, its stderr), line by line, with a timeout per line.

    ``select`` on the pipe plus ``readline`` misses lines: readline buffers every line that has
    arrived, and the pipe then looks empty. A thread reads instead and hands lines over a queue.
    """

    def __init__(self, process: subprocess.Popen, stream=None) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        stream = process.stdout if stream is None else stream
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the child exited or closed it

    def line(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the child printed no line within {timeout} s") from None
        assert line is not None, "the child's output ended"
        return line

    def available(self) -> list[str]:
        """The lines printed so far and not yet taken, without waiting for more."""
        lines = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return lines
            if line is None:
                return lines
            lines.append(line)

    def remaining(self, timeout: float) -> list[str]:
        """Every line up to the end of the output (call once the child has exited)."""
        lines = []
        while (line := self._lines.get(timeout=timeout)) is not None:
            lines.append(line)
        return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_sessions_to_end(database_url: str, timeout: float = 60) -> None:
    """Wait until no client is connected to a child's database any more.

    A killed process's PostgreSQL session outlives it until the statement in progress ends, so a
    COMMIT it had sent may still land after the process is gone. SQLite has no such session: a
    transaction ends with its process.
    """
    if database_url.startswith("sqlite:///"):
        return
    sessions = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    wait_until(lambda: query(database_url, sessions)[0][0] == 0, timeout, "the killed processes' sessions to end")


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    """Return condition()'s first truthy value; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return result


def proc_stat(pid: int) -> dict | None:
    """State, parent, session and start time of a process from /proc (Linux), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ')' do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    return {"state": fields[0], "ppid": int(fields[1]), "sid": int(fields[3]), "starttime": int(fields[19])}


def all_processes() -> dict[int, dict]:
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    return stats


def descendants(root: int) -> set[tuple[int, int]]:
    """Every process below ``root``, as (pid, start time) so a reused pid is not taken for it."""
    stats = all_processes()
    found, frontier = set(), [root]
    while frontier:
        parent = frontier.pop()
        for pid, stat in stats.items():
            if stat["ppid"] == parent:
                found.add((pid, stat["starttime"]))
                frontier.append(pid)
    return found


def running(pid: int, starttime: int) -> bool:
    """False once the process is gone: no /proc entry, another process under its pid, or a zombie."""
    stat = proc_stat(pid)
    return stat is not None and stat["starttime"] == starttime and stat["state"] not in "ZX"


def in_sessions(sessions: set[int]) -> set[tuple[int, int]]:
    """Processes still running in any of these sessions (children started with start_new_session)."""
    return {
        (pid, stat["starttime"])
        for pid, stat in all_processes().items()
        if stat["sid"] in sessions and stat["state"] not in "ZX"
    }


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""
