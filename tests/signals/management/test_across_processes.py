"""Behaviour that only shows across processes: persistence over a restart, determinism.

Each test runs manage.py in subprocesses against databases of its own, on the
backend the suite runs on (a fresh SQLite file, or a fresh PostgreSQL database).
"""

import json

import pytest

from tests.support.processes import child_env
from tests.support.processes import manage as run_manage

pytestmark = pytest.mark.slow


def manage(database_url, tmp_path, *args):
    return run_manage(child_env(database_url, tmp_path / "var"), *args)


DUMP_SIGNALS = (
    "import json; from signals.models import Signal; "
    "print(json.dumps([[s.signal_id, s.contract] for s in Signal.objects.order_by('signal_id')], sort_keys=True))"
)


def test_signals_survive_a_restart(fresh_database_url, tmp_path):
    url = fresh_database_url()
    manage(url, tmp_path, "migrate", "--no-input")
    manage(url, tmp_path, "load_demo")
    first = json.loads(manage(url, tmp_path, "shell", "--no-imports", "-c", DUMP_SIGNALS))

    # A new process: nothing is shared with the one that ingested but the database.
    report = json.loads(manage(url, tmp_path, "storage_report", "--json"))
    again = json.loads(manage(url, tmp_path, "shell", "--no-imports", "-c", DUMP_SIGNALS))

    assert first and again == first
    assert report["persists_across_restarts"] is True
    assert report["totals"]["signals"] == len(first)


def test_same_file_in_two_fresh_databases_gives_identical_signals(fresh_database_url, tmp_path, recorded_dir):
    reply = str(recorded_dir / "polymarket_gamma_markets_active_part1.json")
    dumps = []
    for _ in range(2):
        url = fresh_database_url()
        manage(url, tmp_path, "migrate", "--no-input")
        manage(url, tmp_path, "ingest_file", reply, "--source=polymarket")
        dumps.append(manage(url, tmp_path, "shell", "--no-imports", "-c", DUMP_SIGNALS))

    assert json.loads(dumps[0]), "the recorded reply should give at least one signal"
    assert dumps[0] == dumps[1]
