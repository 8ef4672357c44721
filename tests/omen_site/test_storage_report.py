"""manage.py storage_report answers: is my data persisted, where, how much, how old."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from ledger.models import LedgerWriterState

pytestmark = pytest.mark.django_db


def report(*args):
    out = StringIO()
    call_command("storage_report", *args, stdout=out)
    return out.getvalue()


def test_report_counts_signals_by_source_and_status_after_demo_load():
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())

    data = json.loads(report("--json"))

    assert data["totals"]["signals"] > 0
    assert sum(row["count"] for row in data["signals_by_source_and_status"]) == data["totals"]["signals"]
    assert {row["source"] for row in data["signals_by_source_and_status"]} == {"polymarket"}
    assert data["oldest_signal_at"] <= data["newest_signal_at"]
    assert data["ledger_dir"]
    # The test's transaction never commits, so the saves are still waiting for the writer.
    assert data["ledger"]["saves_waiting"] == data["totals"]["signals"]


@pytest.mark.django_db(transaction=True)
def test_report_says_what_the_ledger_holds():
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())

    data = json.loads(report("--json"))
    text = report()

    assert data["ledger"]["frames_written"] == data["totals"]["signals"] > 0
    assert data["ledger"]["saves_waiting"] == 0
    assert "/signals-001.wal@" in data["ledger"]["end"]
    assert f"Ledger:      {data['totals']['signals']} frames written" in text


def test_text_report_names_the_database_and_the_persistence():
    text = report()

    assert "Database:" in text
    assert "Persistence:" in text
    assert "Signals by source and status:" in text


def test_the_report_shows_a_stalled_writer_with_its_last_error():
    """A drain that failed (a full disk) is shown until one succeeds, with what to do."""
    LedgerWriterState.objects.update_or_create(
        pk=1, defaults={"last_error": "ledger writer stalled: cannot write /x: No space left on device (errno 28)"}
    )

    text, data = report(), json.loads(report("--json"))

    assert "Writer:      STALLED: the last drain failed" in text and "No space left on device" in text
    assert data["ledger"]["writer"]["stalled"] is True


def test_a_writer_keeping_up_is_said_so():
    assert "Writer:      keeping up (0 save(s) pending)" in report()


def test_the_report_shows_each_retention_policy_with_what_has_expired_and_its_last_run():
    from datetime import timedelta

    from django.utils import timezone

    from retention.services.sweep import sweep
    from tests.support.factories import RejectionFactory

    RejectionFactory(created_at=timezone.now() - timedelta(days=91))
    before = report()
    sweep(["rejections"])
    RejectionFactory(created_at=timezone.now() - timedelta(days=100))

    after = {line.split()[0]: line for line in report().splitlines() if line.startswith("  ")}

    assert "Retention:" in before
    assert " 1 expired  never swept" in next(line for line in before.splitlines() if "rejections" in line)
    assert after["rejections"].split()[1:3] == ["90", "d"]
    assert " 1 expired  " in after["rejections"] and "ok, 1 deleted" in after["rejections"]
    assert "never swept" in after["signals"]


@pytest.mark.django_db(transaction=True)
def test_the_json_report_holds_the_backups_and_retention_sections_a_monitor_needs():
    from django.utils import timezone

    from retention.models import Backup

    data = json.loads(report("--json"))
    assert data["backups"] == {"newest": None, "newest_proven": None, "problem": data["backups"]["problem"]}
    assert data["backups"]["problem"].startswith("no backup yet")
    assert {row["policy"] for row in data["retention"]} >= {"signals", "partner_signals", "backups", "ledger"}
    signals = next(row for row in data["retention"] if row["policy"] == "signals")
    assert (signals["keep_for_days"], signals["enabled"], signals["last_run"]) == (90, True, None)

    Backup.objects.create(started_at=timezone.now(), backend="sqlite", status="failed", error="disk full")

    backups = json.loads(report("--json"))["backups"]
    assert backups["problem"] == "the newest backup FAILED: disk full"
    assert (backups["newest"]["status"], backups["newest"]["proven_at"], backups["newest_proven"]) == (
        "failed",
        None,
        None,
    )


# --json as a monitor reads it: stdout is one JSON object whatever happens, the report or the
# refusal, so a script parsing it never gets nothing (a refused setting, an unreachable database
# and a failed check printed to stderr alone) or a half-read traceback.


def refusal(result) -> dict:
    """The JSON object a refused ``storage_report --json`` printed, checked against its exit status."""
    data = json.loads(result.stdout)
    assert set(data) == {"error", "message", "exit_status"}, data
    assert data["exit_status"] == result.returncode != 0
    return data


@pytest.mark.slow
def test_json_report_refused_by_a_setting_prints_the_refusal_as_json(tmp_path):
    from tests.omen_site.commandline import manage

    result = manage("storage_report", "--json", DEBUG="maybe", OMEN_VAR_DIR=str(tmp_path))

    data = refusal(result)
    assert result.returncode == 1
    assert data["error"] == "settings_refused"
    assert data["message"].startswith("DEBUG='maybe' is neither true nor false")
    assert result.stderr.splitlines()[-1] == data["message"]  # stderr says it as before


@pytest.mark.slow
def test_json_report_of_an_unreachable_database_prints_the_refusal_as_json(tmp_path):
    from tests.omen_site.commandline import manage

    path = tmp_path / "missing-directory" / "omen.sqlite3"
    result = manage("storage_report", "--json", DATABASE_URL=f"sqlite:///{path}", OMEN_VAR_DIR=str(tmp_path))

    data = refusal(result)
    assert (data["error"], result.returncode) == ("database_unreachable", 1)
    assert data["message"].startswith(f"Cannot open the SQLite database {path} (DATABASE_URL)")


@pytest.mark.slow
def test_json_report_stopped_by_a_system_check_prints_the_checks_as_json(tmp_path):
    from tests.omen_site.commandline import manage

    unwritable = tmp_path / "file"
    unwritable.write_text("not a directory")
    result = manage(
        "storage_report",
        "--json",
        DATABASE_URL=f"sqlite:///{tmp_path / 'omen.sqlite3'}",
        OMEN_VAR_DIR=str(tmp_path),
        LEDGER_DIR=str(unwritable / "ledger"),
    )

    data = refusal(result)
    assert (data["error"], result.returncode) == ("system_check_failed", 1)
    assert "(ledger.E001) LEDGER_DIR" in data["message"]


@pytest.mark.slow
def test_json_report_of_an_unmigrated_database_prints_the_error_as_json_and_keeps_the_traceback(tmp_path):
    from tests.omen_site.commandline import manage

    result = manage(
        "storage_report", "--json", DATABASE_URL=f"sqlite:///{tmp_path / 'omen.sqlite3'}", OMEN_VAR_DIR=str(tmp_path)
    )

    data = refusal(result)
    assert (data["error"], result.returncode) == ("unexpected", 1)
    assert data["message"].startswith("OperationalError: no such table")
    assert "Traceback (most recent call last)" in result.stderr


@pytest.mark.slow
def test_json_report_with_a_mistyped_argument_prints_the_usage_error_as_json(tmp_path):
    from tests.omen_site.commandline import manage

    result = manage("storage_report", "--json", "--bogus", OMEN_VAR_DIR=str(tmp_path))

    data = refusal(result)
    assert (data["error"], result.returncode) == ("usage", 64)
    assert data["message"] == "unrecognized arguments: --bogus"


def test_json_report_interrupted_by_ctrl_c_prints_the_interruption_as_json(capsys):
    from omen_site.startup import operator_errors

    with pytest.raises(SystemExit) as exit_, operator_errors(["manage.py", "storage_report", "--json"]):
        raise KeyboardInterrupt

    out, err = capsys.readouterr()
    assert exit_.value.code == 130
    assert json.loads(out) == {"error": "interrupted", "message": "interrupted (Ctrl-C)", "exit_status": 130}
    assert err == "manage.py storage_report: interrupted (Ctrl-C)\n"


def test_a_command_without_json_output_prints_nothing_on_stdout_when_refused(capsys):
    from omen_site.startup import operator_errors

    with pytest.raises(SystemExit), operator_errors(["manage.py", "retention", "sweep", "--json"]):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit), operator_errors(["manage.py", "storage_report"]):
        raise KeyboardInterrupt

    assert capsys.readouterr().out == ""


def test_every_command_with_json_output_prints_its_refusals_as_json():
    """A command that gains --json is listed in JSON_COMMANDS, so that its refusals are JSON too."""
    import argparse

    from django.core.management import get_commands, load_command_class

    from omen_site.startup import JSON_COMMANDS

    def option_strings(parser):
        for action in parser._actions:
            yield from action.option_strings
            if isinstance(action, argparse._SubParsersAction):
                for subparser in action.choices.values():
                    yield from option_strings(subparser)

    with_json = {
        name
        for name, app in get_commands().items()
        if app in {"ledger", "omen_site", "retention", "signals"}
        and "--json" in option_strings(load_command_class(app, name).create_parser("manage.py", name))
    }

    assert with_json == JSON_COMMANDS


@pytest.mark.parametrize("flag", ["--json", "--jso", "--js", "--j"])
def test_an_abbreviated_json_flag_prints_the_refusal_as_json_too(capsys, flag):
    """argparse takes --js for --json (the report was JSON), but a refusal printed nothing."""
    from omen_site.startup import operator_errors

    with pytest.raises(SystemExit), operator_errors(["manage.py", "storage_report", flag]):
        raise KeyboardInterrupt

    assert json.loads(capsys.readouterr().out)["error"] == "interrupted"
