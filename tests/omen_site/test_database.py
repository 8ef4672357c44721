"""PostgreSQL's timestamptz values read by psycopg's compiled loader are the ones Django's loader gives."""

from datetime import UTC
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

from omen_site.database import TIMESTAMPTZ_OID, compiled_tz_loader
from signals.models import Signal
from tests.support.factories import SignalFactory

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="Django's timestamptz loader is PostgreSQL's (SQLite stores text)",
    ),
    pytest.mark.django_db,
]

# Written in several offsets, with and without fractions; PostgreSQL sends each in the session's zone.
MOMENTS = (
    "2026-05-01 19:27:33.12+00",
    "2026-05-01 19:27:33.123456+05:30",
    "2026-03-29 01:30:00-09:30",
    "2026-10-25 00:59:59.999999+00",
    "1969-12-31 23:59:59.5+00",
    "0001-01-02 00:00:00+00",
    "9999-12-30 23:59:59.999999+00",
)
SELECT_MOMENTS = "SELECT " + ", ".join(f"'{moment}'::timestamptz" for moment in MOMENTS)


def read_with(install_loader, session_zone: str, select: str = SELECT_MOMENTS):
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None, autocommit=True
    ) as conn:
        conn.execute(f"SET TIME ZONE '{session_zone}'")
        cursor = conn.cursor()
        install_loader(cursor)
        return cursor.execute(select).fetchone()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_the_compiled_loader_reads_what_djangos_loader_reads(zone):
    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    djangos = read_with(lambda cursor: register_tzloader(tz, cursor), zone)
    ours = read_with(lambda cursor: cursor.adapters.register_loader(TIMESTAMPTZ_OID, compiled_tz_loader(tz)), zone)
    assert ours == djangos
    assert [moment.tzinfo for moment in ours] == [moment.tzinfo for moment in djangos] == [tz] * len(MOMENTS)
    assert [moment.isoformat() for moment in ours] == [moment.isoformat() for moment in djangos]


def test_every_connection_reads_timestamptz_with_it_and_django_keeps_it():
    SignalFactory()
    with connection.cursor() as cursor:
        installed = cursor.connection.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    assert installed is compiled_tz_loader(connection.timezone)
    # Where psycopg is compiled (requirements.txt: psycopg[binary]) the parsing is not Python's.
    assert installed(TIMESTAMPTZ_OID)._parse.__self__.__class__.__module__.startswith("psycopg_binary")
    assert now.tzinfo is connection.timezone
    generated_at = Signal.objects.values_list("generated_at", flat=True).get()
    assert generated_at.tzinfo is UTC


def test_a_moment_python_cannot_hold_is_the_same_error():
    # Year 1 at midnight UTC is 1 BC in St. John's: neither loader makes a datetime of it.
    tz, select = ZoneInfo("America/St_Johns"), "SELECT '0001-01-01 00:00:00+00'::timestamptz"
    with pytest.raises(psycopg.DataError, match="before year 1"):
        read_with(lambda cursor: register_tzloader(tz, cursor), "America/St_Johns", select)
    with pytest.raises(psycopg.DataError, match="before year 1"):
        read_with(
            lambda cursor: cursor.adapters.register_loader(TIMESTAMPTZ_OID, compiled_tz_loader(tz)),
            "America/St_Johns",
            select,
        )
