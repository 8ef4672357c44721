"""The retention table: defaults in code, overridden from the environment, then in the admin."""

from datetime import timedelta

import pytest

from retention.checks import check_retention_overrides
from retention.models import RetentionPolicy
from retention.models.policy import MAX_KEEP_FOR
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
        # Past what a timedelta holds, and past what a cutoff (now - period) can be.
        ({"signals": "99999999y"}, "RETENTION_KEEP_SIGNALS: '99999999y' is longer than the longest period"),
        ({"ledger": "9999y"}, "RETENTION_KEEP_LEDGER: '9999y' is longer than the longest period a policy keeps, 100y"),
        ({"rejections": "9" * 30 + "s"}, "RETENTION_KEEP_REJECTIONS: '999"),
        ({"rejections": "9" * 5000 + "d"}, "is longer than the longest period"),
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


def test_the_longest_period_is_100_years_and_longer_than_the_tables():
    assert parse_duration("100y") == MAX_KEEP_FOR == timedelta(days=36525)
    assert max(policy.keep_for for policy in DEFAULTS.values()) < MAX_KEEP_FOR


def test_an_override_of_the_longest_period_is_accepted(settings):
    settings.RETENTION_KEEP = {"ledger": "100y", "audit_trail": f"{MAX_KEEP_FOR.days}d"}

    assert check_retention_overrides() == []


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["36526 00:00:00", "1000000 00:00:00", "999999999 00:00:00"])
def test_the_admin_refuses_a_period_longer_than_the_longest_with_a_form_error(admin_client, typed):
    policy = RetentionPolicy.objects.create(name="ledger")

    page = admin_client.post(
        f"/admin/retention/retentionpolicy/{policy.pk}/change/", {"keep_for": typed, "max_per_key": "", "enabled": "on"}
    )

    assert page.status_code == 200
    assert "At most 100 years (36525 00:00:00)" in page.content.decode()
    policy.refresh_from_db()
    assert policy.keep_for is None
    assert admin_client.get("/admin/retention/retentionpolicy/").status_code == 200


@pytest.mark.django_db
def test_a_period_stored_before_the_limit_keeps_the_longest_and_every_report_works(capsys):
    from django.core.management import call_command

    from omen_site.storage import storage_report

    RetentionPolicy.objects.create(name="ledger")
    RetentionPolicy.objects.filter(name="ledger").update(keep_for=timedelta(days=1_000_000))

    assert effective_policies()["ledger"].keep_for == MAX_KEEP_FOR
    call_command("retention", "status")
    storage_report()
    assert "ledger" in capsys.readouterr().out


@pytest.mark.django_db
def test_only_a_policy_that_keeps_at_most_so_many_per_key_offers_that_limit(admin_client):
    limited = [name for name, default in DEFAULTS.items() if default.max_per_key is not None]
    assert limited == ["probability_history"]  # the one sweeper that reads it (sweep.py)
    signals, history = (RetentionPolicy.objects.create(name=name) for name in ("signals", "probability_history"))

    for policy in (signals, history):
        form = {"keep_for": "", "max_per_key": "5", "enabled": "on"}
        saved = admin_client.post(f"/admin/retention/retentionpolicy/{policy.pk}/change/", form)
        assert saved.status_code == 302

    # On signals the limit was stored and shown ("90d, at most 5 per market": in the admin,
    # retention status, the storage report), and no sweep applied it.
    signals.refresh_from_db()
    history.refresh_from_db()
    assert (signals.max_per_key, history.max_per_key) == (None, 5)
    RetentionPolicy.objects.filter(name="signals").update(max_per_key=5)  # stored before this release
    policies = effective_policies()
    assert (policies["signals"].max_per_key, policies["probability_history"].max_per_key) == (None, 5)
    page = admin_client.get(f"/admin/retention/retentionpolicy/{signals.pk}/change/").content.decode()
    assert 'name="max_per_key"' not in page


@pytest.mark.parametrize(("timeout", "warned"), [(900, True), (3600, True), (3601, False)])
def test_a_redis_visibility_timeout_a_sweep_can_outlive_is_retention_w001(settings, timeout, warned):
    """At 900 s, Redis delivered a sweep or backup still running (they may run an hour) again every
    15 minutes; past its third delivery a task counts as one whose process died each time."""
    from retention import checks

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": timeout}

    warnings = checks.check_visibility_timeout()

    assert [warning.id for warning in warnings] == (["retention.W001"] if warned else [])
    if warned:
        assert f"CELERY_VISIBILITY_TIMEOUT_SECONDS ({timeout})" in warnings[0].msg


def test_the_default_redis_visibility_timeout_outlasts_the_sweep(tmp_path):
    from tests.support.processes import child_env, manage

    env = child_env(
        f"sqlite:///{tmp_path / 'omen.sqlite3'}", tmp_path / "var", CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
    )

    manage(env, "check", "--fail-level", "WARNING")  # exits 1 on retention.W001


@pytest.mark.django_db
def test_the_policy_list_reads_the_policies_once_whoever_changed_each(admin_client, django_user_model):
    """Each row's "keeps" and "from" read every policy again, and its "changed by" its user: 45
    queries for the table's rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin_client.get("/admin/retention/retentionpolicy/")  # the table's rows made
    RetentionPolicy.objects.filter(name="signals").update(keep_for=timedelta(days=30))
    for number, policy in enumerate(RetentionPolicy.objects.all()):
        policy.changed_by = django_user_model.objects.create_user(f"operator{number}")
        policy.save()

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/retention/retentionpolicy/")

    assert page.status_code == 200
    assert ">30d<" in page.content.decode() and "operator1" in page.content.decode()
    assert len(queries) <= 8, "\n".join(query["sql"][:120] for query in queries.captured_queries)
