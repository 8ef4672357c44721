"""Runs the web app, one Celery worker and one beat for development, and stops all three together.

Each child gets its own session, so a terminal's Ctrl-C reaches only ``make`` and this supervisor,
which then stops every child exactly once: SIGTERM, a grace period, SIGKILL for what is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Celery's warm shutdown lets running tasks finish, and even an idle worker on the filesystem
# broker takes 7-9 s to stop; SIGKILL after 12 s still ends everything within 15 s of a Ctrl-C.
GRACE_SECONDS = 12.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Looked up before any fork: the child between fork and exec should only call it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


@dataclass
class Child:
    name: str
    argv: list[str]
    # Whether the first SIGTERM goes to the whole process group or to the started process only.
    term_group: bool = True
    process: subprocess.Popen | None = None

    def group_alive(self) -> bool:
        self.process.poll()  # reap the leader: a zombie would still count as a member
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def terminate(self) -> None:
        if self.term_group or self.process.poll() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def children(host: str, port: int) -> list[Child]:
    python = sys.executable
    return [
        # runserver's autoreloader serves from a child process: SIGTERM to the group reaches both.
        Child("web", [python, "manage.py", "runserver", f"{host}:{port}"]),
        # The worker's pool processes die on SIGTERM (Celery resets it there), which would kill
        # running tasks; the main process alone runs the warm shutdown and stops its pool.
        Child(
            "worker",
            [python, "-m", "celery", "-A", "omen_site", "worker", "--loglevel=INFO", "--hostname=omen@%h"],
            term_group=False,
        ),
        Child("beat", [python, "-m", "celery", "-A", "omen_site", "beat", "--loglevel=INFO"]),
    ]


def die_with_parent(parent_pid: int) -> None:
    """In the child before exec: on Linux, get SIGTERM when the supervisor dies, even by SIGKILL."""
    if _prctl is None:
        return
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os._exit(1)


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"status {returncode}"


class Supervisor:
    def __init__(self, children: list[Child], out=sys.stdout):
        self.children = children
        self.out = out
        self.received: int | None = None

    def say(self, message: str) -> None:
        self.out.write(f"run_all: {message}\n")
        self.out.flush()

    def run(self) -> int:
        """Start every child; return the exit status once they are all stopped, or die by the signal received."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        preexec = functools.partial(die_with_parent, os.getpid())
        try:
            for child in self.children:
                child.process = subprocess.Popen(
                    child.argv, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec
                )
                self.say(f"started {child.name} (pid {child.process.pid})")
            if exited := self._wait_for_signal_or_exit():
                self.say(f"{exited.name} exited on its own ({describe(exited.process.returncode)})")
        finally:
            self.stop()
        if self.received is not None:
            # Die by the same signal, so make (or the shell) sees an interrupted command.
            signal.signal(self.received, signal.SIG_DFL)
            os.kill(os.getpid(), self.received)
        return 1

    def _on_signal(self, signum, frame) -> None:
        # Only recorded: the main loop stops the children once, however many signals arrive.
        if self.received is None:
            self.received = signum

    def _wait_for_signal_or_exit(self) -> Child | None:
        while self.received is None:
            for child in self.children:
                if child.process.poll() is not None:
                    return child
            time.sleep(0.2)
        return None

    def stop(self) -> None:
        started = [child for child in self.children if child.process is not None]
        alive = [child for child in started if child.group_alive()]
        if not alive:
            return
        self.say(f"stopping {', '.join(child.name for child in alive)} (up to {GRACE_SECONDS:.0f} s, then SIGKILL)")
        for child in alive:
            child.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and any(child.group_alive() for child in alive):
            time.sleep(0.1)
        for child in alive:
            if child.group_alive():
                self.say(f"{child.name} did not stop within {GRACE_SECONDS:.0f} s: SIGKILL")
                child.kill()
            child.process.wait()
