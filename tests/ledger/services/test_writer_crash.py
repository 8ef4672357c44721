"""Crash test: a process ingesting with the ledger on is SIGKILLed at random moments, 50 times.

After every restart the ledger verifies and its frames are exactly the committed saves: none
missing, none doubled, whatever the kill interrupted (an ingest transaction, an append before
its fsync, the window between the fsync and the commit that marks the outbox).

Each check runs only once the processes before it are gone *and* their database sessions too: a
killed client's PostgreSQL session finishes the statement in progress, so a COMMIT it had sent can
land after the process died -- a batch of signals the check would see without their frames.
The kill moments come from a seed that every failure names; ``CRASH_TEST_SEED=<seed>`` replays it.
Each round's child is forked by one process that loaded Django once (``ForkServer``): a fresh
interpreter spent most of a round importing.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import ROOT, LineReader, child_env, manage, wait_for_sessions_to_end

pytestmark = pytest.mark.slow

ROUNDS = 50


def start_child(env, round_number: int, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_child", str(round_number), *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


class ForkServer:
    """``crash_child --fork-server``: forks each round's child; their lines arrive on its stdout."""

    def __init__(self, env) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.crash_child", "--fork-server"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.output = LineReader(self.process)
        self.reaped: set[int] = set()

    def _send(self, command: str) -> None:
        self.process.stdin.write(f"{command}\n")
        self.process.stdin.flush()

    def fork(self, round_number: int, context: str) -> int:
        self._send(str(round_number))
        line = next_line(self.output, 60, context)
        assert line.startswith("forked "), (context, line)
        return int(line.split()[1])

    def kill(self, pid: int, context: str) -> list[str]:
        """SIGKILL the child and return every line it printed that was not taken yet."""
        if pid in self.reaped:
            return []  # a failed round's cleanup after a kill that timed out: never signal a reaped pid
        self.reaped.add(pid)
        os.kill(pid, signal.SIGKILL)  # unreaped until "reap", a child that died on its own keeps its pid
        self._send("reap")
        lines = []
        # A SIGKILLed process dies only once it leaves the kernel: one inside an fsync the disk is
        # slow to finish (the other suite writing meanwhile) can take seconds. CI once waited more
        # than 10 s here; a minute, as every other wait, and a timeout says where the child was.
        try:
            while (line := next_line(self.output, 60, context)) != f"exited {pid}\n":
                lines.append(line)
        except AssertionError as error:
            raise AssertionError(f"{error}; after the SIGKILL the child was {process_state(pid)}") from None
        return lines

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


def process_state(pid: int) -> str:
    """The kernel's word on a process: its state and, if it sleeps, the function it waits in."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip() or "-"
    except OSError as error:
        return f"not readable in /proc ({error.strerror})"
    state = next((line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("State:")), "?")
    return f"in state {state}, waiting in {wchan}"


def next_line(output: LineReader, timeout: float, context: str) -> str:
    try:
        return output.line(timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{context}: {error}") from None


def assert_recovered(line: str, context: str) -> dict:
    state = json.loads(line)
    assert state["ok"], (context, state)
    assert not state["busy"] and state["pending"] == 0, (context, "the drain left saves unframed", state)
    assert state["frames_equal_signals"], (context, state)
    assert state["doubled_outbox_ids"] == state["doubled_creates"] == 0, (context, state)
    return state


def stop(children: list[subprocess.Popen], database_url: str) -> None:
    """Kill the children, and wait until nothing they sent the database can still commit."""
    for child in children:
        child.kill()
        child.wait()
        child.stdout.close()
    wait_for_sessions_to_end(database_url)


def final_check(env, round_number: int, context: str) -> dict:
    final = start_child(env, round_number, "--verify-only")
    try:
        return assert_recovered(next_line(LineReader(final), 60, context), context)
    finally:
        final.wait()
        final.stdout.close()


def test_sigkill_at_random_moments_never_loses_or_doubles_a_frame(fresh_database_url, tmp_path):
    seed = int(os.environ.get("CRASH_TEST_SEED") or random.randrange(2**32))
    replay = f"CRASH_TEST_SEED={seed}"
    chooser = random.Random(seed)
    url = fresh_database_url()
    env = child_env(url, tmp_path / "var")
    manage(env, "migrate", "--no-input")
    committed = 0  # signals the children said were committed, over every round so far
    adopted = truncated = 0

    server = ForkServer(env)
    try:
        for round_number in range(ROUNDS):
            context = f"{replay}, round {round_number}"
            pid = server.fork(round_number, context)
            killed = False
            try:
                state = assert_recovered(next_line(server.output, 60, context), context)
                assert state["signals"] >= committed, (context, state, committed)
                adopted += state["adopted"]
                truncated += state["truncated"]
                # Let it commit at least once, then kill it at a random moment of its work.
                first = next_line(server.output, 60, context)
                assert first.startswith("committed"), (context, first)
                time.sleep(chooser.uniform(0, 0.4))
                reported = [first, *server.kill(pid, context)]  # every batch it said was committed
                killed = True
                committed = state["signals"] + sum(int(line.split()[1]) for line in reported)
            finally:
                if not killed:
                    server.kill(pid, context)
                wait_for_sessions_to_end(url)  # nothing the killed child sent can commit any more
    finally:
        server.close()

    state = final_check(env, ROUNDS, f"{replay}, final check")
    assert state["signals"] >= committed > 0, (replay, state, committed)
    print(f"seed {seed}: {state['frames']} frames, {adopted} adopted after a kill, {truncated} torn tails truncated")


def test_two_processes_ingesting_at_once_share_one_writer(fresh_database_url, tmp_path):
    url = fresh_database_url()
    env = child_env(url, tmp_path / "var")
    manage(env, "migrate", "--no-input")
    go = tmp_path / "go"
    children = [start_child(env, round_number, "--wait-for", str(go)) for round_number in (1, 2)]
    outputs = [LineReader(child) for child in children]
    committed = [0, 0]
    try:
        for output in outputs:
            assert_recovered(next_line(output, 60, "before ingesting"), "before ingesting")
        go.touch()  # both checked the empty ledger: now both ingest at once
        time.sleep(3)  # both commit (and drain after each commit) meanwhile
        for n, output in enumerate(outputs):
            line = next_line(output, 30, f"child {n + 1} ingesting")
            assert line.startswith("committed"), line
            committed[n] = int(line.split()[1])
    finally:
        stop(children, url)  # the comparison below is made only once neither can commit any more

    state = final_check(env, 3, "after both children")
    assert state["frames"] == state["signals"] >= sum(committed) > 0, state
