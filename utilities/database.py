"""Writes that end a task, made on a live connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")


def on_a_live_connection(write: Callable[[], T]) -> T:
    """Run ``write``; if the connection died under the task (the database restarted, failed over,
    a proxy cut it), once more on a new one.

    For the writes that end a task and free what it claimed (a poll's run and lock, a webhook
    delivery's claim): on the dead connection they failed, and the claim was held until it went
    stale, minutes later. A database still away fails the second try too, and the claim goes stale
    as before. The pool hands out no connection the server closed (omen_site/database.py,
    ``check_idle_connection``), so the new one is live.
    """
    try:
        return write()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise  # a transaction of the caller's: its connection cannot be swapped under it
        connection.close()
        return write()
