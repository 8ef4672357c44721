"""`make run` and `manage.py run_all` stopped the ways a developer and a service manager stop them.

Each test runs the real processes (web app, Celery worker, beat) against a fresh database on the
suite's backend and watches them through /proc: every one must be gone, not merely signalled.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.processes import (
    ROOT,
    child_env,
    command_line,
    descendants,
    free_port,
    in_sessions,
    manage,
    running,
    wait_until,
)

pytestmark = pytest.mark.slow
STOP_SECONDS = 15  # the promise: one Ctrl-C stops everything, make included, within this
# A make started by `make test` must not behave as its sub-make.
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
STARTED = re.compile(r"run_all: started (\w+) \(pid (\d+)\)")


class Started:
    """A supervised run, its output in a file, and what it started."""

    def __init__(self, argv, env, log_path, port):
        self.log_path = log_path
        self.port = port
        with open(log_path, "wb") as log:
            # Its own process group, as a terminal gives a foreground job.
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.recorded: set[tuple[int, int]] = set()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in STARTED.findall(self.output())}

    def wait_for_output(self, text, timeout):
        def seen():
            assert self.process.poll() is None, f"exited ({self.process.returncode}):\n{self.output()[-4000:]}"
            return text in self.output()

        wait_until(seen, timeout, f"{text!r} in the output")

    def wait_until_serving(self, timeout=120):
        url = f"http://127.0.0.1:{self.port}/admin/login/"

        def answers():
            assert self.process.poll() is None, f"exited ({self.process.returncode}):\n{self.output()[-4000:]}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_until(answers, timeout, f"{url} to answer 200", interval=0.5)

    def record_descendants(self):
        self.recorded = descendants(self.process.pid)
        return self.recorded

    def still_running(self) -> set[tuple[int, int]]:
        sessions = set(self.children().values())
        return {proc for proc in self.recorded if running(*proc)} | in_sessions(sessions)

    def kill_everything(self):
        for pid, starttime in self.still_running():
            with contextlib.suppress(ProcessLookupError):
                if running(pid, starttime):
                    os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Runs:
    def __init__(self, env, tmp_path):
        self.env = env
        self.tmp_path = tmp_path
        self.started: list[Started] = []

    def start(self, *argv, port) -> Started:
        run = Started(argv, self.env, self.tmp_path / f"run-{len(self.started)}.log", port)
        self.started.append(run)
        return run


@pytest.fixture
def runs(fresh_database_url, tmp_path):
    """Starts supervised runs against a fresh database; kills whatever they left afterwards."""
    env = {k: v for k, v in child_env(fresh_database_url(), tmp_path / "var").items() if k not in MAKE_VARIABLES}
    runs = Runs(env, tmp_path)
    yield runs
    for run in runs.started:
        run.kill_everything()


@contextlib.contextmanager
def port_in_use():
    """A port another program already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def make_run_serving(runs):
    """`make run` once the web app answers and the worker and beat are up, its processes recorded."""
    port = free_port()
    run = runs.start("make", "run", f"PORT={port}", "HOST=127.0.0.1", port=port)
    run.wait_until_serving()  # make run migrates and loads the demo data first
    run.wait_for_output(" ready.", timeout=60)  # the worker
    run.wait_for_output("beat: Starting...", timeout=60)
    recorded = run.record_descendants()
    commands = [command_line(pid) for pid, _ in recorded]
    # The reloader and the server it runs, the worker, the beat: the check below is not about nothing.
    assert sum("runserver" in command for command in commands) >= 2, commands
    assert any("worker" in command for command in commands), commands
    assert any(" beat " in command for command in commands), commands
    return run


def assert_all_gone(run, signalled_at):
    # SIGKILLed grandchildren are reaped by init a moment after their group leader.
    while (left := run.still_running()) and time.monotonic() < signalled_at + STOP_SECONDS:
        time.sleep(0.1)
    assert not left, {pid: command_line(pid) for pid, _ in left}


def test_ctrl_c_on_make_run_stops_make_web_worker_and_beat_within_15_seconds(runs):
    run = make_run_serving(runs)

    os.killpg(run.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    signalled_at = time.monotonic()

    # make dies by the signal too, so a calling shell or script knows it was interrupted.
    assert run.process.wait(timeout=STOP_SECONDS) == -signal.SIGINT
    assert_all_gone(run, signalled_at)
    # One warm shutdown of the worker, not a storm of them.
    assert run.output().count("Warm shutdown") == 1, run.output()[-4000:]


def test_sigterm_to_make_alone_stops_web_worker_and_beat_within_15_seconds(runs):
    run = make_run_serving(runs)

    os.kill(run.process.pid, signal.SIGTERM)  # what a service manager does
    signalled_at = time.monotonic()

    assert run.process.wait(timeout=STOP_SECONDS) == -signal.SIGTERM
    assert_all_gone(run, signalled_at)
    assert run.output().count("Warm shutdown") == 1, run.output()[-4000:]


def test_run_all_stops_the_others_and_fails_when_the_web_app_cannot_bind_its_port(runs):
    manage(runs.env, "migrate", "--no-input")
    with port_in_use() as port:
        run = runs.start(sys.executable, "manage.py", "run_all", "--host", "127.0.0.1", "--port", str(port), port=port)

        returncode = run.process.wait(timeout=60)
        exited_at = time.monotonic()

    assert returncode == 1, run.output()[-4000:]
    assert "run_all: web exited on its own (status 1)" in run.output()
    assert set(run.children()) == {"web", "worker", "beat"}
    assert_all_gone(run, exited_at)


@pytest.mark.parametrize("port", ["0", "-1", "65536", "99999", "http"])
def test_run_all_refuses_a_port_no_socket_can_bind_before_starting_anything(port, monkeypatch):
    """The fault probe's `run_all --port 99999`: runserver's child died of OverflowError, its
    autoreloader lived on, and the worker and beat ran on beside no web app until killed."""
    monkeypatch.setattr("omen_site.management.commands.run_all.Supervisor", None)  # starting anything fails

    with pytest.raises(CommandError, match=r"argument --port: .*from 1 to 65535"):
        call_command("run_all", "--port", port)
