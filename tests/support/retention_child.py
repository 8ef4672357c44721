"""A process for the sweep crash test: rounds of new signals, a sweep SIGKILLed mid-way, then checks.

Run as ``python -m tests.support.retention_child SEED ROUNDS`` with the environment of
``tests.support.processes.child_env``, on a migrated database. Each round adds signals (expired
ones over two days, a day that an earlier round archived among them; recent ones; held ones),
forks a sweep of the signals policy (a day archived in parts of 3) and kills it with SIGKILL
after a random moment (the seed decides), recovers as a restart would (the ledger's drain), and
prints one JSON line of what the checks found. A last round lets the sweep finish. Forking saves
a Django start per round; the killed sweep is still a process of its own, with its own
connection and locks.
"""

import json
import os
import random
import select
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import django

NOW = datetime(2026, 12, 1, tzinfo=UTC)
EXPIRED_DAYS = [NOW - timedelta(days=120 + d) for d in range(4)]  # the signals policy keeps 90 days


def main(seed: int, rounds: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    django.setup()
    from django.db import connections

    from ledger.services.verify import ledger_verify
    from ledger.services.writer import ledger_drain
    from retention.models import LegalHold, RetentionRun, SignalArchive
    from retention.services import archive
    from retention.services import sweep as sweep_module
    from retention.services.sweep import sweep
    from signals.models import Signal
    from tests.support.factories import RawEventFactory, SignalFactory

    # Days in parts of 3 (5 expired signals a day a round): kills land between the parts of a day's
    # file too, and a day a killed sweep archived but did not delete has its lines replaced.
    sweep_module.DAY_PART = 3
    chooser = random.Random(seed)
    made: dict[str, tuple[datetime, str]] = {}  # signal id -> (generated_at, kind)
    held_source = "yahoo"
    LegalHold.objects.create(source=held_source, reason="crash test: a held source")
    serial = 0

    def add(moment: datetime, kind: str, **event) -> None:
        nonlocal serial
        serial += 1
        event.setdefault("external_id", str(700000 + serial))
        signal_ = SignalFactory(raw_event=RawEventFactory(observed_at=moment, **event))
        made[signal_.signal_id] = (signal_.generated_at, kind)

    for number in range(1, rounds + 2):
        last = number > rounds
        if not last:
            for n in range(20):
                day = EXPIRED_DAYS[(number + n) % len(EXPIRED_DAYS)]
                add(day + timedelta(minutes=number * 20 + n), "expired")
            add(NOW - timedelta(days=10, minutes=number), "recent")
            add(EXPIRED_DAYS[0] + timedelta(minutes=number), "held", source=held_source, external_id=f"HLD{number}")
        for connection in connections.all():  # the fork must share no connection, pooled ones included
            connection.close()
            if hasattr(connection, "close_pool"):
                connection.close_pool()
        deleting, told = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(deleting)
                sweep(["signals"], now=NOW, batch_size=5, progress=lambda policy, rows, pipe=told: os.write(pipe, b"."))
            finally:
                os._exit(0)
        os.close(told)
        killed_after = None
        if not last:
            # Odd rounds: any moment, from before the sweep starts to after it ends. Even rounds:
            # once its first batch is deleted, so that some kills land among the deletes for sure.
            if number % 2 == 0:
                select.select([deleting], [], [], 10)
            killed_after = chooser.uniform(0.0, 0.05 if number % 2 == 0 else 0.5)
            time.sleep(killed_after)
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(deleting)
        print(json.dumps({"round": number, "killed_after": killed_after, "waiting": True}), flush=True)
        sys.stdin.readline()  # the test waits for the killed sweep's database session to end

        ledger_drain()  # a restart: a torn tail truncated, frames the kill left unwritten written
        report = ledger_verify(contents=True)
        present = set(Signal.objects.values_list("signal_id", flat=True))
        gone = set(made) - present
        archived = set()
        damaged = []
        miscounted = []  # days whose file holds a signal twice, or not the rows its manifest says
        for day in sorted({moment.date() for moment, _ in made.values()}):
            try:
                ids = [line.signal_id for line in archive.read_day(day)]
            except archive.ArchiveDamaged as exc:
                damaged.append(str(exc))
                continue
            archived |= set(ids)
            manifest = SignalArchive.objects.filter(day=day).values_list("rows", flat=True).first()
            if len(ids) != len(set(ids)) or (ids and manifest != len(ids)):
                miscounted.append(f"{day}: {len(ids)} lines, {len(set(ids))} signals, manifest {manifest}")
        runs = RetentionRun.objects.filter(policy="signals")
        print(
            json.dumps(
                {
                    "round": number,
                    "ledger_ok": report.ok,
                    "problems": [str(p) for p in report.problems[:3]],
                    "deleted_outside_policy": sorted(s for s in gone if made[s][1] != "expired"),
                    "deleted_not_archived": sorted(gone - archived),
                    "damaged": damaged,
                    "miscounted": miscounted,
                    "expired_left": sum(1 for s in present if made.get(s, (None, ""))[1] == "expired"),
                    "gone": len(gone),
                    "deleted_by_runs": sum(runs.values_list("deleted", flat=True)),
                    "statuses": sorted(set(runs.values_list("status", flat=True))),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
