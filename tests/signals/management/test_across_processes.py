"""Behaviour that only shows across processes: persistence over a restart, determinism.

Each test runs manage.py in subprocesses against databases of its own, on the
backend the suite runs on (a fresh SQLite file, or a fresh PostgreSQL database).
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def admin_connection(db):
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres", autocommit=True
    )


@pytest.fixture
def fresh_database_url(tmp_path):
    """Yield a factory of URLs, each naming an empty database on the suite's backend."""
    created = []
    db = settings.DATABASES["default"]

    def make():
        if db["ENGINE"].endswith("sqlite3"):
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.sqlite3'}"
        name = f"omen_e2e_{uuid.uuid4().hex[:12]}"
        with admin_connection(db) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{name}"

    yield make
    for name in created:
        with admin_connection(db) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(database_url, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "OMEN_ENV"}}
    env.update(
        DATABASE_URL=database_url,
        OMEN_ENV_FILE="/dev/null",
        OMEN_VAR_DIR=str(tmp_path / "var"),
        PYTHONHASHSEED=str(uuid.uuid4().int % 4_000_000_000),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


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
