"""PostgreSQL connections: how they read ``timestamptz``, and how the pool checks one it hands out.

**timestamptz.** psycopg's C loader, where Django installs a Python one.

Django (5.2) registers on every connection a loader derived from psycopg's pure-Python
``TimestamptzLoader``, to set each value's ``tzinfo`` to the connection's time zone. With the
compiled psycopg it replaces a C parser by a Python one: a page of the API's list (102 values)
reads 0.7 ms faster with this module's loader, 6.9 µs a value (bench/tz_loader.py). The compiled class
cannot be subclassed (it is final), which is why Django does not use it (Django ticket #36960,
psycopg #1273). ``CompiledTzLoader`` keeps Django's contract, the same ``timezone`` attribute
(which ``create_cursor`` compares) and the same ``replace(tzinfo=…)``, and delegates the parsing to
whatever loader psycopg itself registers for ``timestamptz``: the C one when it is installed, the
Python one otherwise, so nothing changes without it.

**The pool's check.** A connection the server has closed (a restart, a failover, a proxy's idle
cut, ``pg_terminate_backend``) sits in psycopg's pool looking whole, and failed the next request or
task that took it. Django's ``CONN_HEALTH_CHECKS`` makes the pool send an empty query first: a
round trip on every checkout, so on every API request (0.11-0.13 ms a checkout by
bench/pool_check.py, beside the list's 0.4 ms of SQL). A server that closes a connection says so on
its socket first (a FATAL message, then the end of the stream), so ``check_idle_connection`` looks
there instead, without waiting (within a few µs of no check at all): only a connection with
something to read gets the round trip, which tells a notice the server sent an idle client from a
connection that is gone.
"""

from __future__ import annotations

import select

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader
from psycopg_pool import ConnectionPool

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
_PSYCOPG_LOADER: type[Loader] = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
_loaders: dict = {}  # time zone -> its loader class, one per zone as Django makes them


def compiled_tz_loader(tz) -> type[Loader]:
    """The loader class that reads ``timestamptz`` as values in ``tz`` (Django's connection time zone)."""
    try:
        return _loaders[tz]
    except KeyError:
        pass

    class CompiledTzLoader(Loader):
        timezone = tz  # what Django's create_cursor() compares with the connection's time zone

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = _PSYCOPG_LOADER(oid, context).load

        def load(self, data):
            return self._parse(data).replace(tzinfo=tz)

    return _loaders.setdefault(tz, CompiledTzLoader)


def use_compiled_tz_loader(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: on PostgreSQL, read ``timestamptz`` with the compiled loader."""
    if connection.vendor != "postgresql" or _PSYCOPG_LOADER is TimestamptzLoader:
        return
    adapters = connection.connection.adapters
    wanted = compiled_tz_loader(connection.timezone)
    # A pooled connection comes back with the loader of its last checkout.
    if adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not wanted:
        adapters.register_loader(TIMESTAMPTZ_OID, wanted)


def check_idle_connection(connection: psycopg.Connection) -> None:
    """psycopg_pool's ``check``: raise ``OperationalError`` for a connection the server closed."""
    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the connection is closed")
    # poll, not select: select refuses a descriptor past FD_SETSIZE (1024), a ValueError the pool
    # would not take for a failed check, and every checkout of a process with many files open failed.
    waiting = select.poll()
    waiting.register(connection.fileno(), select.POLLIN)
    if waiting.poll(0):
        # An idle connection has nothing to read unless the server closed it or sent a notice.
        ConnectionPool.check_connection(connection)


def use_idle_connection_check(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: the pool that handed out ``connection`` checks each one it
    hands out by ``check_idle_connection``. Django passes the pool's ``check`` itself (only its
    round trip, with CONN_HEALTH_CHECKS), so it is set on the pool once Django has made it."""
    pool = connection.pool if connection.vendor == "postgresql" else None
    if pool is not None and pool._check is not check_idle_connection:
        pool._check = check_idle_connection
