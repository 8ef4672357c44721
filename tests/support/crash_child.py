"""A process for the crash test: check the ledger after the last kill, then ingest until killed.

Run as ``python -m tests.support.crash_child ROUND`` with the child environment of
``tests.support.processes.child_env``. It prints one JSON line after recovery (what verify
found, the ledger's frames against the database's signals, the outbox rows the drain left),
then ``committed <n>`` after every committed batch, and never stops on its own. With
``--wait-for PATH`` it starts ingesting only once PATH exists: a test running two children lets
both check the ledger first, since a check beside another process's ingest would see signals
whose frames are not written yet.

``python -m tests.support.crash_child --fork-server`` loads Django once and then forks one such
child for each ``ROUND`` line read on its stdin (see ``serve_forks``).
"""

import importlib
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django

# What ``main`` imports, loaded once by ``serve_forks`` before it forks.
CHILD_IMPORTS = (
    "ledger.envelope",
    "ledger.models",
    "ledger.reading",
    "ledger.services.verify",
    "ledger.services.writer",
    "ledger.wal",
    "signals.models",
    "signals.services.ingest",
    "tests.support.factories",
)


def main(round_number: int, verify_only: bool, wait_for: Path | None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    django.setup()
    from collections import Counter

    from django.conf import settings

    from ledger.envelope import read_head
    from ledger.models import LedgerOutbox
    from ledger.reading import ledger_segments, segment_data
    from ledger.services.verify import ledger_verify
    from ledger.services.writer import ledger_drain
    from ledger.wal import read_frames
    from signals.models import Signal

    recovery = ledger_drain()  # a restart: torn tails truncated, dead runs adopted, backlog framed
    report = ledger_verify()
    heads = [
        read_head(frame.payload)
        for ref in ledger_segments(settings.LEDGER_DIR)
        for frame in read_frames(segment_data(ref.path)).frames
    ]
    creates = Counter(head.signal_id for head in heads if head.operation == "create")
    signal_ids = set(Signal.objects.values_list("signal_id", flat=True))
    pending = LedgerOutbox.objects.count_saves()  # saves the drain left unframed: none, unless it was busy
    print(
        json.dumps(
            {
                "ok": report.ok,
                "problems": [str(p) for p in report.problems[:5]],
                "signals": len(signal_ids),
                "frames": len(heads),
                # A save is (outbox row, signal): a bulk delete's row holds several.
                "doubled_outbox_ids": len(heads) - len({(head.outbox_id, head.signal_id) for head in heads}),
                "doubled_creates": sum(1 for count in creates.values() if count > 1),
                "frames_equal_signals": set(creates) == signal_ids,
                "adopted": recovery.adopted,
                "truncated": len(recovery.truncated),
                "busy": recovery.busy,
                "pending": pending,
            }
        ),
        flush=True,
    )
    if verify_only:
        return
    while wait_for is not None and not wait_for.exists():
        time.sleep(0.05)
    from signals.services.ingest import signals_ingest
    from tests.support.factories import RawEventFactory

    batch = 0
    start = datetime(2026, 11, 1, tzinfo=UTC)
    while True:
        batch += 1
        # New markets every batch, so every batch creates signals (and frames).
        records = [
            RawEventFactory.build(
                market=f"{round_number:03d}{batch:05d}{n:03d}",
                observed_at=start + timedelta(minutes=round_number * 1000 + batch),
            )
            for n in range(40)
        ]
        summary = signals_ingest(records=records, batch_size=10)
        print(f"committed {summary.created}", flush=True)


def serve_forks() -> None:
    """Load Django and what ``main`` imports once, then fork a child per ``ROUND`` line on stdin.

    Importing them took a fresh process more than a second, most of each crash-test round; a
    forked child starts with them loaded, as a Celery prefork worker does, and opens its own
    database connection. It writes to this process's stdout; this process answers ``forked PID``
    first and, once told ``reap`` and the child is gone, ``exited PID`` after the child's last line.
    The child stays a zombie until ``reap``: until then its pid cannot name another process, so a
    SIGKILL sent to it can only reach it, even if it had died on its own.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    django.setup()
    from django.db import connections

    for module in CHILD_IMPORTS:
        importlib.import_module(module)
    connections.close_all()  # a connection shared across a fork would be two clients on one socket
    for command in sys.stdin:
        round_number = int(command)
        sys.stdout.flush()
        # The child waits until "forked PID" is out: its own lines must come after it.
        gate_out, gate_in = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(gate_in)
                os.read(gate_out, 1)
                os.close(gate_out)
                # The factories' own random state is copied by the fork (the random module's is
                # reseeded by Python): each child draws records of its own, as a new process did.
                importlib.import_module("factory.random").reseed_random(os.getpid())
                main(round_number, verify_only=False, wait_for=None)
            except BaseException:
                traceback.print_exc(file=sys.stdout)  # the test reads stdout only: it shows there
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        os.close(gate_out)
        print(f"forked {pid}", flush=True)
        os.write(gate_in, b".")
        os.close(gate_in)
        assert sys.stdin.readline().strip() == "reap", "the test sends reap once it killed the child"
        os.waitpid(pid, 0)
        print(f"exited {pid}", flush=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments == ["--fork-server"]:
        serve_forks()
        sys.exit()
    wait_for = Path(arguments[arguments.index("--wait-for") + 1]) if "--wait-for" in arguments else None
    main(int(arguments[0]), verify_only="--verify-only" in arguments, wait_for=wait_for)
