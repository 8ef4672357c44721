"""A write by another process landing while an edit is between reading a row and saving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db.models.signals import pre_save


@contextmanager
def meanwhile_before_the_next_save(model, write: Callable[[], object]) -> Iterator[None]:
    """Run ``write`` once, as the next instance of ``model`` is saved: after the edit read the row,
    before its own write, where a worker's update lands in production. The test stays in one
    thread and one database transaction, so it runs the same on SQLite and PostgreSQL."""
    ran = []

    def write_once(sender, **kwargs):
        if not ran:
            ran.append(True)
            write()

    uid = f"tests.support.saves:{id(write_once)}"
    pre_save.connect(write_once, sender=model, weak=False, dispatch_uid=uid)
    try:
        yield
    finally:
        pre_save.disconnect(sender=model, dispatch_uid=uid)
    assert ran, f"no {model.__name__} was saved"
