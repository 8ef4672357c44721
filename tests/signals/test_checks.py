"""The signals app's system checks: settings that would let one source hold up the others."""

import subprocess
import sys

import pytest

from signals.checks import check_poll_deadline, check_poll_lock, check_poll_time_limit, check_worker_slots
from signals.sources.registry import SOURCES
from tests.support.processes import ROOT, child_env


def test_a_worker_slot_per_source_plus_the_ledger_passes(settings):
    settings.CELERY_WORKER_CONCURRENCY = len(SOURCES) + 1

    assert check_worker_slots() == []


def test_fewer_slots_than_sources_plus_one_is_signals_w001_naming_the_setting(settings):
    settings.CELERY_WORKER_CONCURRENCY = 2

    (warning,) = check_worker_slots()

    assert warning.id == "signals.W001"
    assert "CELERY_WORKER_CONCURRENCY is 2" in warning.msg
    assert f"CELERY_WORKER_CONCURRENCY={len(SOURCES) + 1}" in warning.hint


def test_the_default_settings_give_every_source_a_slot_and_a_poll_time_limit_under_its_period():
    assert check_worker_slots() == []
    assert check_poll_time_limit() == []
    assert check_poll_deadline() == []
    assert check_poll_lock() == []


def test_a_poll_deadline_not_shorter_than_the_time_limit_is_signals_w003(settings):
    settings.SOURCE_POLL_DEADLINE_SECONDS = 90
    settings.SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS = 90

    (warning,) = check_poll_deadline()

    assert warning.id == "signals.W003"
    assert "SOURCE_POLL_DEADLINE_SECONDS (90)" in warning.msg


def test_a_poll_lock_that_can_go_stale_while_the_poll_may_still_run_is_signals_w004(settings):
    settings.SOURCE_POLL_LOCK_SECONDS = 100
    settings.CELERY_TASK_ANNOTATIONS = {"signals.tasks.source_poll": {"soft_time_limit": 90, "time_limit": 120}}

    (warning,) = check_poll_lock()

    assert warning.id == "signals.W004"
    assert "SOURCE_POLL_LOCK_SECONDS (100)" in warning.msg and "Set SOURCE_POLL_LOCK_SECONDS above 120" in warning.hint


def test_a_poll_time_limit_not_shorter_than_the_period_is_signals_w002(settings):
    settings.SOURCE_POLL_INTERVAL_SECONDS = 60
    settings.SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS = 60

    (warning,) = check_poll_time_limit()

    assert warning.id == "signals.W002"
    assert "SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS (60)" in warning.msg


@pytest.mark.slow
def test_an_operator_silences_a_warning_from_the_environment(tmp_path):
    """Production runs check --deploy --fail-level WARNING: a judged-harmless warning must be silenceable."""
    env = child_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "var", CELERY_WORKER_CONCURRENCY="2")

    def check(**extra):
        return subprocess.run(
            [sys.executable, "manage.py", "check", "--fail-level", "WARNING"],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    warned, silenced = check(), check(SILENCED_SYSTEM_CHECKS="signals.W001")

    assert warned.returncode != 0 and "signals.W001" in warned.stderr
    assert silenced.returncode == 0, silenced.stderr
    assert "no issues (1 silenced)" in silenced.stdout
