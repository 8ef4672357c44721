"""A refused setting or an unreachable database ends in one line naming the variable, not a traceback."""

import logging
import signal
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created
from django.db.utils import ConnectionHandler, OperationalError

from omen_site.startup import (
    connection_being_opened,
    connection_failure_reason,
    database_unreachable_in_one_line,
    database_unreachable_message,
    interruption_in_one_line,
    settings_refusal_in_one_line,
    traceback_wanted,
)
from tests.omen_site.commandline import manage
from tests.support.processes import ROOT

LIBPQ_REFUSED = (
    'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
    "\tIs the server running on that host and accepting TCP/IP connections?"
)


@pytest.fixture
def sqlite_connection(django_db_blocker):
    """Opens connections of their own to SQLite files, apart from the suite's database."""
    opened = []

    def connect(path):
        wrapper = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}})["default"]
        opened.append(wrapper)
        return wrapper

    with django_db_blocker.unblock():
        yield connect
        for wrapper in opened:
            wrapper.close()


def test_the_traceback_is_wanted_with_the_traceback_flag_or_log_level_debug():
    assert traceback_wanted(["manage.py", "migrate", "--traceback"], environ={})
    assert traceback_wanted(["manage.py", "migrate"], environ={"LOG_LEVEL": "debug"})
    assert not traceback_wanted(["manage.py", "migrate"], environ={"LOG_LEVEL": "INFO", "DEBUG": "true"})


def test_the_reason_is_the_drivers_last_words_without_the_password():
    assert connection_failure_reason(LIBPQ_REFUSED) == "Connection refused"
    assert (
        connection_failure_reason(
            'connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "omen"'
        )
        == 'password authentication failed for user "omen"'
    )
    assert connection_failure_reason("bad option pw=s3cret", password="s3cret") == "bad option pw=***"
    assert connection_failure_reason("") == "no reason given"


def test_an_unreachable_postgresql_is_named_by_host_port_and_database_never_the_password():
    message = database_unreachable_message(
        {"ENGINE": "django.db.backends.postgresql", "NAME": "omen", "HOST": "db", "PORT": 5433, "PASSWORD": "s3cret"},
        "Connection refused",
    )

    assert message == (
        "Cannot reach the database at db:5433/omen (DATABASE_URL): Connection refused. "
        "Start PostgreSQL or fix DATABASE_URL."
    )


def test_an_unopenable_sqlite_file_is_named_by_its_path():
    message = database_unreachable_message(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "/nowhere/omen.sqlite3"}, "unable to open database file"
    )

    assert message.startswith("Cannot open the SQLite database /nowhere/omen.sqlite3 (DATABASE_URL): unable to open")
    assert message.endswith("or fix DATABASE_URL.")


def test_a_failure_to_connect_is_told_from_a_failing_query(sqlite_connection, tmp_path):
    unreachable = sqlite_connection(tmp_path / "missing-directory" / "db.sqlite3")
    reachable = sqlite_connection(tmp_path / "db.sqlite3")

    with pytest.raises(OperationalError) as connecting:
        unreachable.ensure_connection()
    with pytest.raises(OperationalError) as querying:
        reachable.cursor().execute("SELECT * FROM no_such_table")

    assert connection_being_opened(connecting.value) is unreachable
    assert connection_being_opened(querying.value) is None


def test_an_unreachable_database_exits_with_one_line(sqlite_connection, tmp_path):
    path = tmp_path / "missing-directory" / "db.sqlite3"

    with pytest.raises(SystemExit) as exit_, database_unreachable_in_one_line(["manage.py", "migrate"]):
        sqlite_connection(path).ensure_connection()

    assert exit_.value.code == (
        f"Cannot open the SQLite database {path} (DATABASE_URL): unable to open database file. "
        "Create its directory and make it writable, or fix DATABASE_URL."
    )


def test_a_failing_query_keeps_its_traceback(sqlite_connection, tmp_path):
    reachable = sqlite_connection(tmp_path / "db.sqlite3")

    with pytest.raises(OperationalError, match="no such table"), database_unreachable_in_one_line(["manage.py"]):
        reachable.cursor().execute("SELECT * FROM no_such_table")


def test_pool_retry_warnings_are_quiet_until_the_first_connection_and_give_the_reason(
    sqlite_connection, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="psycopg.pool")
    pool = logging.getLogger("psycopg.pool")
    receivers_before = len(connection_created.receivers)
    unreachable = sqlite_connection(tmp_path / "missing-directory" / "db.sqlite3")
    reachable = sqlite_connection(tmp_path / "db.sqlite3")

    with pytest.raises(SystemExit) as exit_, database_unreachable_in_one_line(["manage.py", "migrate"]):
        pool.warning("error connecting in 'pool-1': %s", LIBPQ_REFUSED)
        unreachable.ensure_connection()
    with database_unreachable_in_one_line(["manage.py", "runserver"]):
        pool.warning("before the first connection")
        reachable.ensure_connection()
        pool.warning("after the first connection")

    assert "(DATABASE_URL): Connection refused." in exit_.value.code
    assert [r.getMessage() for r in caplog.records if r.name == "psycopg.pool"] == ["after the first connection"]
    assert not pool.filters
    assert len(connection_created.receivers) == receivers_before


def test_a_settings_refusal_exits_with_its_message_alone_unless_the_traceback_is_asked_for():
    with pytest.raises(SystemExit) as exit_, settings_refusal_in_one_line(["manage.py", "check"]):
        raise ImproperlyConfigured("DEBUG is on: unset DEBUG or set DEBUG=false.")
    with pytest.raises(ImproperlyConfigured), settings_refusal_in_one_line(["manage.py", "check", "--traceback"]):
        raise ImproperlyConfigured("DEBUG is on: unset DEBUG or set DEBUG=false.")

    assert exit_.value.code == "DEBUG is on: unset DEBUG or set DEBUG=false."


@pytest.mark.slow
@pytest.mark.parametrize("command", ["migrate", "storage_report"])
def test_manage_py_with_postgresql_down_says_so_in_one_line(command):
    # Port 1: nothing listens there. A short pool timeout keeps the wait for the verdict short.
    result = manage(
        command, DATABASE_URL="postgres://omen:s3cret-pw@127.0.0.1:1/omen", DATABASE_POOL_TIMEOUT_SECONDS="1"
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) <= 3, result.stderr
    assert lines[-1] == (
        "Cannot reach the database at 127.0.0.1:1/omen (DATABASE_URL): Connection refused. "
        "Start PostgreSQL or fix DATABASE_URL."
    )


@pytest.mark.slow
def test_manage_py_with_an_unopenable_sqlite_file_says_so_in_one_line(tmp_path):
    path = tmp_path / "missing-directory" / "omen.sqlite3"

    result = manage("migrate", DATABASE_URL=f"sqlite:///{path}")

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) <= 3, result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"Cannot open the SQLite database {path} (DATABASE_URL)")


@pytest.mark.slow
def test_manage_py_shows_the_database_traceback_with_the_traceback_flag(tmp_path):
    result = manage("migrate", "--traceback", DATABASE_URL=f"sqlite:///{tmp_path / 'missing-directory' / 'db.sqlite3'}")

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "OperationalError: unable to open database file" in result.stderr


def test_ctrl_c_ends_a_command_with_one_line_and_status_130_unless_the_traceback_is_asked_for(capsys):
    with pytest.raises(SystemExit) as exit_, interruption_in_one_line(["manage.py", "retention", "sweep"]):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt), interruption_in_one_line(["manage.py", "retention", "--traceback"]):
        raise KeyboardInterrupt

    assert exit_.value.code == 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped
    assert capsys.readouterr().err == "manage.py retention: interrupted (Ctrl-C)\n"


@pytest.mark.slow
def test_manage_py_stopped_by_ctrl_c_says_so_in_one_line(tmp_path):
    env = {"OMEN_ENV_FILE": "/dev/null", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    busy = "print('ready', flush=True); import time; time.sleep(60)"  # a command Ctrl-C interrupts mid-way
    command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", busy]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        child.kill()

    assert child.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "manage.py shell: interrupted (Ctrl-C)"


@pytest.mark.slow
def test_manage_py_whose_reader_closed_the_pipe_ends_quietly(tmp_path):
    """`manage.py ledger tail -n 2000 | head -1`: the reader has what it wanted; no traceback, no
    "Exception ignored" when Python flushes stdout at exit, and 141 (128 + SIGPIPE) as a shell
    reports a command a closed pipe ended."""
    env = {"OMEN_ENV_FILE": "/dev/null", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", "for n in range(10**6): print(n)"]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "0\n"
        child.stdout.close()  # as `head -1` does
        stderr = child.stderr.read()
        child.wait(timeout=30)
    finally:
        child.kill()

    assert child.returncode == 141
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and "BrokenPipe" not in stderr, stderr


# A bad argument: argparse exits 2, which ledger verify, restore and restore-archive document as
# "damage found", so a monitor would page on a typo. Every command exits 64 (EX_USAGE) instead.
USAGE_ERRORS = [
    pytest.param(["ledger", "verify", "--no-reconcile", "--contents"], "not allowed with argument", id="verify-both"),
    pytest.param(["ledger", "verfy"], "invalid choice: 'verfy'", id="ledger-typo"),
    pytest.param(["ledger", "tail", "-n", "-1"], "how many frames, 0 or more", id="tail-negative"),
    pytest.param(["restore", "x"], "the following arguments are required: --database-url", id="restore-no-url"),
    pytest.param(["retention", "restore-archive", "2026-13-01"], "invalid fromisoformat value", id="restore-archive"),
    pytest.param(["poll", "nosuch"], "invalid choice: 'nosuch'", id="poll-unknown-source"),
    pytest.param(["migrate", "--bogus"], "unrecognized arguments: --bogus", id="django-command"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "words"), USAGE_ERRORS)
def test_a_bad_argument_exits_64_never_a_documented_status(tmp_path, args, words):
    result = manage(*args, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", OMEN_VAR_DIR=str(tmp_path))

    assert result.returncode == 64, result.stderr
    assert "usage: manage.py" in result.stderr and words in result.stderr.splitlines()[-1]
    assert result.stdout == ""


@pytest.mark.slow
def test_an_unknown_command_exits_64_and_help_exits_0(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "OMEN_VAR_DIR": str(tmp_path)}

    unknown = manage("storge_report", **env)
    helped = manage("ledger", "verify", "--help", **env)

    assert unknown.returncode == 64 and "Unknown command: 'storge_report'" in unknown.stderr
    assert helped.returncode == 0 and "Exit status: 0" in " ".join(helped.stdout.split())


def test_a_usage_error_exits_64_in_process(capsys):
    import argparse

    from omen_site.startup import USAGE, operator_errors

    parser = argparse.ArgumentParser(prog="manage.py ledger")
    with pytest.raises(SystemExit) as exit_, operator_errors(["manage.py", "ledger", "verfy"]):
        parser.parse_args(["--bogus"])

    assert exit_.value.code == USAGE == 64
    assert capsys.readouterr().err.endswith("manage.py ledger: error: unrecognized arguments: --bogus\n")


# --traceback asks for where a command stopped, not for another exit status: Django re-raises a
# CommandError under it, and Python exited 1, so `ledger --traceback verify` said 1 for damage.


@pytest.mark.slow
def test_the_traceback_flag_keeps_a_commands_exit_status(tmp_path):
    partition = tmp_path / "ledger" / "2026-12-01"
    partition.mkdir(parents=True)
    (partition / "signals-001.wal").write_bytes(b"\xff" * 300)  # no frame: damage
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "OMEN_VAR_DIR": str(tmp_path)}

    plain = manage("ledger", "verify", "--no-reconcile", **env)
    traced = manage("ledger", "--traceback", "verify", "--no-reconcile", **env)

    assert plain.returncode == traced.returncode == 2, traced.stderr
    assert "Traceback (most recent call last)" in traced.stderr
    assert traced.stderr.splitlines()[-1].endswith("CommandError: ledger verify found 1 problem(s)")


def test_a_command_error_under_the_traceback_flag_exits_with_its_own_status(capsys):
    from django.core.management.base import CommandError

    from omen_site.startup import operator_errors

    with pytest.raises(SystemExit) as exit_, operator_errors(["manage.py", "poll", "--traceback", "newsapi"]):
        raise CommandError("newsapi was not polled: it is disabled", returncode=5)

    assert exit_.value.code == 5
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("CommandError: newsapi was not polled: it is disabled\n")


@pytest.mark.slow
@pytest.mark.parametrize("damaged", [False, True], ids=["intact", "damaged"])
def test_a_closed_pipe_ends_quietly_with_141_when_stdout_is_buffered(tmp_path, damaged):
    """Without PYTHONUNBUFFERED (the image sets it; a shell on a host does not) a short output waits
    in stdout's buffer until Python flushes it at exit: a closed pipe then printed "Exception ignored
    ... BrokenPipeError" and exited 120, whatever the command's own status."""
    import os

    partition = tmp_path / "ledger" / "2026-12-01"
    partition.mkdir(parents=True)
    if damaged:
        (partition / "signals-001.wal").write_bytes(b"\xff" * 300)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(
        OMEN_ENV_FILE="/dev/null", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", OMEN_VAR_DIR=str(tmp_path)
    )
    for name in ("OMEN_ENV", "LEDGER_DIR", "LEDGER_ARCHIVE_DIR", "LOG_LEVEL"):
        env.pop(name, None)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "ledger", "verify", "--no-reconcile"],
            cwd=ROOT,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)

    assert result.returncode == 141, result.stderr
    assert "Exception ignored" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


# Ctrl-C in the first half second, while manage.py imports Django and Celery, came before its
# handlers: Python's KeyboardInterrupt traceback, and no JSON for --json. The interrupt is made
# to land there by an import hook, as a timed signal could not be.
EARLY_INTERRUPT = """
import runpy, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "celery":
            raise KeyboardInterrupt

sys.meta_path.insert(0, Interrupt())
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


@pytest.mark.slow
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_ctrl_c_while_manage_py_imports_django_says_so_in_one_line(tmp_path, json_flag):
    import json

    from tests.omen_site.commandline import run

    args = ["storage_report", "--json"] if json_flag else ["storage_report"]
    result = run(["-c", EARLY_INTERRUPT], *args, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode == 130
    assert result.stderr == "manage.py storage_report: interrupted (Ctrl-C)\n"
    if json_flag:
        assert json.loads(result.stdout) == {
            "error": "interrupted",
            "message": "interrupted (Ctrl-C)",
            "exit_status": 130,
        }
    else:
        assert result.stdout == ""
