"""The retention table: defaults in code, overridden from the environment, then in the admin."""

from datetime import timedelta

import pytest

from retention.checks import check_retention_overrides
from retention.models import RetentionPolicy
from retention.policies import DEFAULTS, effective_policies, format_duration, parse_duration
from retention.services.sweep import SWEEPERS


def test_every_policy_has_a_sweeper():
    assert SWEEPERS.keys() == DEFAULTS.keys()


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("90d", timedelta(days=90)),
        ("168h", timedelta(hours=168)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1y", timedelta(days=366)),  # a year is never shorter than a calendar one
        ("7y", timedelta(days=2557)),
    ],
)
def test_durations(text, span):
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "90", "d", "1.5d", "-3d", "90 days", "9w"])
def test_a_duration_it_cannot_read_is_refused_with_the_forms_it_takes(text):
    with pytest.raises(ValueError, match="90d, 168h or 7y"):
        parse_duration(text)


def test_durations_print_as_they_are_written():
    assert [format_duration(parse_duration(t)) for t in ("90d", "168h", "30m", "45s")] == ["90d", "7d", "30m", "45s"]


@pytest.mark.django_db
def test_the_admin_overrides_the_environment_which_overrides_the_code(settings):
    settings.RETENTION_KEEP = {"rejections": "30d", "source_runs": "14d"}
    RetentionPolicy.objects.create(name="source_runs", keep_for=timedelta(days=7), max_per_key=None)
    RetentionPolicy.objects.create(name="probability_history", max_per_key=500, enabled=False)

    policies = effective_policies()

    assert (policies["signals"].keep_for, policies["signals"].chosen_by) == (timedelta(days=90), "default")
    assert (policies["rejections"].keep_for, policies["rejections"].chosen_by) == (timedelta(days=30), "environment")
    assert (policies["source_runs"].keep_for, policies["source_runs"].chosen_by) == (timedelta(days=7), "admin")
    history = policies["probability_history"]
    assert (history.keep_for, history.max_per_key, history.enabled) == (timedelta(hours=168), 500, False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"signal": "90d"}, "RETENTION_KEEP_SIGNAL: no policy 'signal'"),
        ({"signals": "ninety days"}, "RETENTION_KEEP_SIGNALS: 'ninety days' is not a duration"),
    ],
)
def test_an_override_that_cannot_be_read_stops_the_start_naming_the_variable(settings, overrides, message):
    settings.RETENTION_KEEP = overrides

    (error,) = check_retention_overrides()

    assert error.id == "retention.E001" and message in error.msg


@pytest.mark.parametrize(("setting", "check_id"), [("RETENTION_ARCHIVE_DIR", "E002"), ("BACKUP_DIR", "E003")])
def test_a_directory_retention_cannot_write_stops_the_start(settings, tmp_path, setting, check_id):
    from retention import checks

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    setattr(settings, setting, blocker / "below")

    errors = checks.check_retention_archive_dir() + checks.check_backup_dir()

    assert [error.id for error in errors] == [f"retention.{check_id}"]
    assert setting in errors[0].msg
