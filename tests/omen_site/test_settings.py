"""The production guard and the start-up line, exercised as an operator would: manage.py in a subprocess."""

import os
import subprocess
import sys

import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.slow

GOOD_SECRET = "q8Vn3kLx0pWz7RbT2yHc5MfJ9sGd4AeU1oKi6NlQwErTyUiOpAsDfGhJk"
OMEN_VARS = (
    "OMEN_ENV",
    "DATABASE_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "LEDGER_DIR",
    "LEDGER_ARCHIVE_DIR",
    "LEDGER_DRAIN_ON_COMMIT",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "OMEN_CACHE_BACKEND",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def manage(*args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in OMEN_VARS}
    env["OMEN_ENV_FILE"] = "/dev/null"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def production(**overrides):
    env = {
        "OMEN_ENV": "production",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/omen",
        "SECRET_KEY": GOOD_SECRET,
        "ALLOWED_HOSTS": "omen.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "OMEN_CACHE_BACKEND": "redis",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_production_without_any_configuration_refuses_and_names_each_variable():
    result = manage("check", OMEN_ENV="production")
    assert result.returncode != 0
    assert "OMEN_ENV=production refuses to start" in result.stderr
    for variable in (
        "DATABASE_URL is not set",
        "SECRET_KEY is not set",
        "ALLOWED_HOSTS is empty",
        "the Celery broker is not Redis",
        "OMEN_CACHE_BACKEND is not redis",
    ):
        assert variable in result.stderr


def test_production_refuses_sqlite_database_url():
    result = manage("check", **production(DATABASE_URL="sqlite:////tmp/omen.sqlite3"))
    assert result.returncode != 0
    assert "DATABASE_URL points at sqlite3, not PostgreSQL" in result.stderr


@pytest.mark.parametrize(
    "secret",
    ["django-insecure-" + "x1y2z3" * 10, "short-secret", "a" * 60],
    ids=["django-insecure-prefix", "too-short", "too-few-distinct-characters"],
)
def test_production_refuses_insecure_secret_key(secret):
    result = manage("check", **production(SECRET_KEY=secret))
    assert result.returncode != 0
    assert "SECRET_KEY is insecure" in result.stderr


def test_production_refuses_debug_on():
    result = manage("check", **production(DEBUG="true"))
    assert result.returncode != 0
    assert "DEBUG is on: unset DEBUG or set DEBUG=false" in result.stderr


def test_production_refuses_unwritable_ledger_dir():
    result = manage("check", **production(LEDGER_DIR="/etc/hostname/ledger"))
    assert result.returncode != 0
    assert "ledger.E001" in result.stderr
    assert "LEDGER_DIR /etc/hostname/ledger cannot be created" in result.stderr


def test_production_refuses_an_archive_dir_it_cannot_create(tmp_path):
    result = manage("check", **production(LEDGER_DIR=str(tmp_path / "ledger"), LEDGER_ARCHIVE_DIR="/etc/hostname/cold"))
    assert result.returncode != 0
    assert "ledger.E002" in result.stderr
    assert "LEDGER_ARCHIVE_DIR /etc/hostname/cold cannot be created" in result.stderr


def test_valid_production_configuration_passes_check_deploy_without_warnings(tmp_path):
    result = manage("check", "--deploy", **production(LEDGER_DIR=str(tmp_path / "ledger")))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_every_process_logs_one_startup_line_naming_its_storage(tmp_path):
    ledger_dir = tmp_path / "ledger"
    result = manage("check", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LEDGER_DIR=str(ledger_dir))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "omen.startup" in line]
    assert len(lines) == 1
    line = lines[0]
    assert f"database=sqlite:{tmp_path / 'db.sqlite3'}" in line
    assert "broker=filesystem:" in line
    assert "cache=LocMemCache" in line
    assert f"ledger_dir={ledger_dir}" in line


def test_database_url_options_are_kept_and_an_empty_url_is_named():
    kept = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('sslmode'))",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/omen?sslmode=disable",
    )
    empty = manage("check", DATABASE_URL="")

    assert kept.stdout.strip().endswith("disable"), kept.stderr
    assert empty.returncode != 0
    assert "DATABASE_URL is set but empty" in empty.stderr


def test_startup_line_hides_passwords():
    result = manage(
        "check",
        DATABASE_URL="postgres://omen:s3cret-pw@127.0.0.1:5432/omen",
        REDIS_URL="redis://:r3dis-pw@127.0.0.1:6379/0",
        OMEN_CACHE_BACKEND="redis",
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret-pw" not in result.stderr
    assert "r3dis-pw" not in result.stderr
    assert "broker=redis://:***@127.0.0.1:6379/0" in result.stderr
