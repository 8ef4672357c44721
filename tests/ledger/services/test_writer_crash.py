"""Crash test: a process ingesting with the ledger on is SIGKILLed at random moments, 50 times.

After every restart the ledger verifies and its frames are exactly the committed saves: none
missing, none doubled, whatever the kill interrupted (an ingest transaction, an append before
its fsync, the window between the fsync and the commit that marks the outbox).
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.support.processes import ROOT, LineReader, child_env, manage

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
    committed = 0  # signals the children said were committed, over every round so far
    adopted = truncated = 0

    for round_number in range(ROUNDS):
        child = start_child(env, round_number)
        output = LineReader(child)
        try:
            state = assert_recovered(output.line(timeout=60), round_number)
            assert state["signals"] >= committed, (seed, round_number, state, committed)
            adopted += state["adopted"]
            truncated += state["truncated"]
            # Let it commit at least once, then kill it at a random moment of its work.
            first = output.line(timeout=60)
            assert first.startswith("committed"), first
            time.sleep(chooser.uniform(0, 0.4))
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        reported = [first, *output.remaining(timeout=10)]  # every batch it said was committed
        committed = state["signals"] + sum(int(line.split()[1]) for line in reported)
        child.stdout.close()

    final = start_child(env, ROUNDS, "--verify-only")
    try:
        state = assert_recovered(LineReader(final).line(timeout=60), ROUNDS)
    finally:
        final.wait()
        final.stdout.close()
    assert state["signals"] >= committed > 0, (seed, state, committed)
    print(f"seed {seed}: {state['frames']} frames, {adopted} adopted after a kill, {truncated} torn tails truncated")


def test_two_processes_ingesting_at_once_share_one_writer(fresh_database_url, tmp_path):
    url = fresh_database_url()
    env = child_env(url, tmp_path / "var")
    manage(env, "migrate", "--no-input")
    go = tmp_path / "go"
    children = [start_child(env, round_number, "--wait-for", str(go)) for round_number in (1, 2)]
    outputs = [LineReader(child) for child in children]
    try:
        for output in outputs:
            assert_recovered(output.line(timeout=60), 0)
        go.touch()  # both checked the empty ledger: now both ingest at once
        time.sleep(3)  # both commit (and drain after each commit) meanwhile
        for output in outputs:
            assert output.line(timeout=30).startswith("committed")
    finally:
        for child in children:
            child.kill()
            child.wait()
            child.stdout.close()

    final = start_child(env, 3, "--verify-only")
    try:
        state = assert_recovered(LineReader(final).line(timeout=60), 3)
    finally:
        final.wait()
        final.stdout.close()
    assert state["frames"] == state["signals"] > 0
