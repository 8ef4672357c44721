"""Crash test: a signals sweep SIGKILLed at random moments, 10 times, and a last sweep that finishes.

After every kill: nothing outside the policy or under a legal hold is gone, every deleted signal
is in a day's archive whose checksum matches its manifest, each day's file holds a signal once
and as many lines as its manifest says, ``ledger verify --contents`` passes, and the runs'
deleted counts add up to what is gone. The kill moments come from a seed that every
failure names; ``CRASH_TEST_SEED=<seed>`` replays it.
"""

import json
import os
import random
import subprocess
import sys

import pytest

from tests.support.processes import ROOT, LineReader, child_env, manage, wait_for_sessions_to_end

pytestmark = pytest.mark.slow

ROUNDS = 10


def test_a_sweep_killed_at_random_moments_loses_nothing_and_the_next_one_finishes(fresh_database_url, tmp_path):
    seed = int(os.environ.get("CRASH_TEST_SEED") or random.randrange(2**32))
    url = fresh_database_url()
    env = child_env(url, tmp_path / "var")
    manage(env, "migrate", "--no-input")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.retention_child", str(seed), str(ROUNDS)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    output = LineReader(child)
    killed_mid_way = 0
    try:
        for number in range(1, ROUNDS + 2):
            context = f"CRASH_TEST_SEED={seed}, round {number}"
            json.loads(output.line(timeout=120))  # the sweep is dead (or done)
            wait_for_sessions_to_end(url)  # a killed sweep's last COMMIT lands before the checks
            child.stdin.write("\n")
            child.stdin.flush()
            state = json.loads(output.line(timeout=120))
            assert state["ledger_ok"], (context, state)
            assert state["deleted_outside_policy"] == [], (context, state)
            assert state["deleted_not_archived"] == [] and state["damaged"] == [], (context, state)
            assert state["miscounted"] == [], (context, "a day's file and its manifest disagree", state)
            assert state["deleted_by_runs"] == state["gone"], (context, "the counts do not add up", state)
            killed_mid_way += "running" in state["statuses"]  # the killed one, marked interrupted next round
        assert state["expired_left"] == 0 and state["gone"] > 0, (context, "the last sweep did not finish", state)
        assert killed_mid_way >= 1, (context, "no kill landed while a sweep was deleting")
        assert state["statuses"] in (["ok"], ["interrupted", "ok"]), (context, state)
    finally:
        child.kill()
        child.wait()
    print(f"seed {seed}: {state['gone']} signals swept; kills interrupted a sweep in {killed_mid_way} rounds")
