#!/usr/bin/env python
"""Where a signals sweep spends its time: its main functions and every SQL statement, timed in-process.

Copies ``bench/retention.py``'s PostgreSQL template (built there, once), expires ``--fraction``
of it (default a tenth: 200,040 signals), or with ``--sqlite`` builds its SQLite database
(200,000 signals, half expired), then runs the signals sweep in this process, without
the reader, with a timer around the archive, the batch's delete, the ledger drain and its parts,
and Django's ``execute_wrapper`` around each statement. Prints the sweep's rows/s, the CPU this
process and its PostgreSQL backend spent, and the table, largest first: seconds, share of the
sweep, this thread's CPU and the backend's in it, calls. It asserts nothing.

    .venv/bin/python bench/retention_parts.py
    .venv/bin/python bench/retention_parts.py --fraction 0.05
    .venv/bin/python bench/retention_parts.py --sqlite
"""

import argparse
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# bench/retention.py, by path: "retention" is the app's name on sys.path.
_spec = importlib.util.spec_from_file_location("bench_retention", ROOT / "bench" / "retention.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

# (module, function): the parts of the sweep worth a line of their own.
TIMED = [
    ("retention.services.archive", "DayFile.add"),
    ("retention.services.sweep", "signals_delete_identified"),
    ("ledger.services.writer", "ledger_drain"),
    ("ledger.services.writer", "_pending_rows"),
    ("ledger.services.writer", "_append_batch"),
    ("ledger.services.writer", "frame_refs_record"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, help="of the signals expired (default 0.1; SQLite 0.5)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite: 200,000 signals in a file database")
    parser.add_argument("--top", type=int, default=25, help="lines of the table")
    args = parser.parse_args()

    fraction = args.fraction or (0.5 if args.sqlite else 0.1)
    keep, _ = bench.expiring_half(datetime.now(UTC), fraction)
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-retention-parts-"))
    settings = bench.sweep_settings(workdir, keep)
    try:
        if args.sqlite:
            path = workdir / "bench.sqlite3"
            settings["DATABASE_URL"] = f"sqlite:///{path}"
            bench.sqlite_database(path, 200_000, dict(os.environ, **settings))
        else:
            bench.postgres_template(2_000_000, rebuild=False)
            settings["DATABASE_URL"] = bench.postgres_copy()
        os.environ.update(settings)
        measure(args.top)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(top: int) -> None:
    import django

    django.setup()
    from django.db import connection

    from retention.services.sweep import sweep

    spent: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    backend = None

    def timed(label, function):
        def wrapper(*args, **kwargs):
            started, cpu, server = time.perf_counter(), time.thread_time(), _cpu_seconds(backend)
            try:
                return function(*args, **kwargs)
            finally:
                entry = spent[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - started
                entry[2] += time.thread_time() - cpu
                entry[3] += _cpu_seconds(backend) - server

        return wrapper

    for module_name, name in TIMED:
        owner = importlib.import_module(module_name)
        *classes, attribute = name.split(".")
        for class_name in classes:  # a method: timed on its class
            owner = getattr(owner, class_name)
        setattr(owner, attribute, timed(f"{name}()", getattr(owner, attribute)))

    def statement(execute, sql, params, many, context):
        started, cpu, server = time.perf_counter(), time.thread_time(), _cpu_seconds(backend)
        try:
            return execute(sql, params, many, context)
        finally:
            entry = spent[re.sub(r"\s+", " ", sql)[:80]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started
            entry[2] += time.thread_time() - cpu
            entry[3] += _cpu_seconds(backend) - server

    # "CPU s" is this thread's CPU in the part; "server" its PostgreSQL backend's (clock ticks of
    # 10 ms, summed over many calls).
    with connection.cursor() as cursor:
        backend = _database_backend(cursor)  # the timers above read it
    started, cpu, backend_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(backend)
    with connection.execute_wrapper(statement):
        (run,) = sweep(["signals"])
    took = time.perf_counter() - started
    cpu, backend_cpu = time.process_time() - cpu, _cpu_seconds(backend) - backend_cpu
    print(f"sweep: {run.deleted:,} signals in {took:.1f} s = {run.deleted / took:,.0f} rows/s (no reader)")
    print(
        f"CPU: this process {cpu:.2f} s"
        + (f", its PostgreSQL backend {backend_cpu:.2f} s" if backend else "")
        + f"; the rest of the {took:.1f} s waited (fsync, the server's I/O)"
    )
    print(f"{'seconds':>8} {'share':>6} {'CPU s':>6} {'server':>6} {'calls':>6}  what")
    for label, (calls, seconds, thread_cpu, server_cpu) in sorted(spent.items(), key=lambda item: -item[1][1])[:top]:
        print(f"{seconds:8.2f} {seconds / took:6.1%} {thread_cpu:6.2f} {server_cpu:6.2f} {calls:6d}  {label}")


def _database_backend(cursor) -> int | None:
    """The PostgreSQL server process serving this connection (None on SQLite, which runs in ours)."""
    if cursor.db.vendor != "postgresql":
        return None
    cursor.execute("SELECT pg_backend_pid()")
    return cursor.fetchone()[0]


def _cpu_seconds(pid: int | None) -> float:
    """A process's CPU seconds (clock ticks of 10 ms here); 0 for none (SQLite runs in ours)."""
    return 0.0 if pid is None else bench.process_cpu_seconds(pid) or 0.0


if __name__ == "__main__":
    main()
