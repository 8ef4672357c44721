"""The pool's check of a connection it hands out: one the server closed is replaced, a live one kept."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg_pool import ConnectionPool

from omen_site.database import check_idle_connection

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="psycopg's pool is PostgreSQL's",
    ),
    pytest.mark.django_db,
]


def conninfo() -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None)


@pytest.fixture
def pool():
    pool = ConnectionPool(conninfo(), min_size=1, max_size=1, check=check_idle_connection, open=True)
    pool.wait()
    yield pool
    pool.close()


def backend_pid(pool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_a_connection_the_server_closed_while_it_sat_in_the_pool_is_replaced(pool):
    """A restart, a failover, a proxy's idle cut: here the server ends the backend of the idle connection."""
    first = backend_pid(pool)
    with psycopg.connect(conninfo(), autocommit=True) as other:
        # With a timeout it returns once the backend is gone (its FATAL sent, the socket closed);
        # without, at once, and the pool could hand the connection out before the server closed it.
        assert other.execute("SELECT pg_terminate_backend(%s, 5000)", [first]).fetchone()[0]

    with pool.connection() as conn:
        second = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # not OperationalError

    assert second != first


def test_a_live_connection_the_server_sent_a_notice_is_kept(pool):
    """Something to read on an idle connection is not always its end: the round trip tells."""
    with pool.connection() as conn:
        first = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("LISTEN omen_pool_check")
        conn.commit()
    with psycopg.connect(conninfo(), autocommit=True) as other:
        other.execute("NOTIFY omen_pool_check")

    assert backend_pid(pool) == first


def test_djangos_pool_checks_by_the_socket_not_by_a_round_trip_per_checkout():
    connection.ensure_connection()

    assert connection.pool._check is check_idle_connection
