"""Crash test: a process ingesting with the ledger on is SIGKILLed at random moments, 50 times.

After every restart the ledger verifies and its frames are exactly the committed saves: none
missing, none doubled, whatever the kill interrupted (an ingest transaction, an append before
its fsync, the window between the fsync and the commit that marks the outbox).
"""

import json
import os
import random
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.support.processes import ROOT, child_env, manage

pytestmark = pytest.mark.slow

ROUNDS = 50


def start_child(env, round_number: int, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.crash_child", str(round_number), *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def read_line(child: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    assert ready, "the child printed nothing in time"
    line = child.stdout.readline()
    assert line, f"the child exited with {child.wait()}"
    return line


def assert_recovered(line: str, round_number: int) -> dict:
    state = json.loads(line)
    assert state["ok"], (round_number, state)
    assert state["frames_equal_signals"], (round_number, state)
    assert state["doubled_outbox_ids"] == state["doubled_creates"] == 0, (round_number, state)
    return state


def test_sigkill_at_random_moments_never_loses_or_doubles_a_frame(fresh_database_url, tmp_path):
    seed = random.randrange(2**32)
    chooser = random.Random(seed)
    url = fresh_database_url()
    env = child_env(url, tmp_path / "var")
    manage(env, "migrate", "--no-input")
    committed = 0
    adopted = truncated = 0

    for round_number in range(ROUNDS):
        child = start_child(env, round_number)
        try:
            state = assert_recovered(read_line(child, 60), round_number)
            assert state["signals"] >= committed, (seed, round_number, state, committed)
            adopted += state["adopted"]
            truncated += state["truncated"]
            # Let it commit at least once, then kill it at a random moment of its work.
            line = read_line(child, 60)
            assert line.startswith("committed"), line
            committed = state["signals"] + int(line.split()[1])
            deadline = time.monotonic() + chooser.uniform(0, 0.4)
            while time.monotonic() < deadline:
                ready, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
                if ready:
                    committed += int(child.stdout.readline().split()[1])
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
            child.stdout.close()

    final = start_child(env, ROUNDS, "--verify-only")
    try:
        state = assert_recovered(read_line(final, 60), ROUNDS)
    finally:
        final.wait()
        final.stdout.close()
    assert state["signals"] >= committed > 0, (seed, state, committed)
    print(f"seed {seed}: {state['frames']} frames, {adopted} adopted after a kill, {truncated} torn tails truncated")


def test_two_processes_ingesting_at_once_share_one_writer(fresh_database_url, tmp_path):
    url = fresh_database_url()
    env = child_env(url, tmp_path / "var")
    manage(env, "migrate", "--no-input")
    children = [start_child(env, round_number) for round_number in (1, 2)]
    try:
        for child in children:
            assert_recovered(read_line(child, 60), 0)
        commits = [0, 0]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # both commit (and drain after each commit) meanwhile
            for index, child in enumerate(children):
                if select.select([child.stdout], [], [], 0.05)[0]:
                    child.stdout.readline()
                    commits[index] += 1
        assert all(commits), commits
    finally:
        for child in children:
            child.kill()
            child.wait()
            child.stdout.close()

    final = start_child(env, 3, "--verify-only")
    try:
        state = assert_recovered(read_line(final, 60), 3)
    finally:
        final.wait()
        final.stdout.close()
    assert state["frames"] == state["signals"] > 0
