"""Exact paging while another process inserts (issue 11): every pre-existing signal once, no repeat."""

import json
import subprocess
import sys

import pytest

from tests.support.processes import ROOT, LineReader, child_env, manage

pytestmark = pytest.mark.slow


def child(env, mode, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.paging_child", mode],
        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def test_walking_every_page_while_another_process_inserts_sees_each_pre_existing_signal_once(
    fresh_database_url, tmp_path
):
    env = child_env(fresh_database_url(), tmp_path / "var")
    manage(env, "migrate", "--no-input")
    seeded = json.loads(subprocess.run(
        [sys.executable, "-m", "tests.support.paging_child", "seed"],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=120, check=True,
    ).stdout.splitlines()[-1])  # fmt: skip

    inserter = child(env, "insert")
    inserted = LineReader(inserter)
    try:
        first = int(inserted.line(timeout=60).split()[-1])  # inserting before the walk starts
        walker = child(env, "walk", stdin=subprocess.PIPE)
        out, err = walker.communicate(seeded["key"] + "\n", timeout=120)
        during_walk = int(inserted.available()[-1].split()[-1]) - first
    finally:
        inserter.kill()
        inserter.wait()

    assert walker.returncode == 0, err[-3000:]
    seen = json.loads(out.splitlines()[-1])
    pre_existing = set(seeded["signal_ids"])
    assert sorted(s for s in seen if s in pre_existing) == sorted(pre_existing)  # each exactly once
    assert len(seen) == len(set(seen))
    assert during_walk > 5, "the other process inserted too little to prove anything"
