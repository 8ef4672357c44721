#!/usr/bin/env python
"""Where a signals sweep spends its time: its main functions and every SQL statement, timed in-process.

Copies ``bench/retention.py``'s PostgreSQL template (built there, once), expires ``--fraction``
of it (default a tenth: 200,040 signals), or with ``--sqlite`` builds its SQLite database
(200,000 signals, half expired), then runs the signals sweep in this process, without
the reader, with a timer around the archive, the batch's delete, the ledger drain and its parts,
and Django's ``execute_wrapper`` around each statement. Prints the sweep's rows/s and the table,
largest first: seconds, share of the sweep, calls. It asserts nothing.

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
    ("retention.services.archive", "archive_day"),
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

    spent: dict[str, list] = defaultdict(lambda: [0, 0.0])

    def timed(label, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                entry = spent[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        return wrapper

    for module_name, name in TIMED:
        module = importlib.import_module(module_name)
        setattr(module, name, timed(f"{name}()", getattr(module, name)))

    def statement(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = spent[re.sub(r"\s+", " ", sql)[:80]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    started = time.perf_counter()
    with connection.execute_wrapper(statement):
        (run,) = sweep(["signals"])
    took = time.perf_counter() - started
    print(f"sweep: {run.deleted:,} signals in {took:.1f} s = {run.deleted / took:,.0f} rows/s (no reader)")
    print(f"{'seconds':>8} {'share':>6} {'calls':>6}  what")
    for label, (calls, seconds) in sorted(spent.items(), key=lambda item: -item[1][1])[:top]:
        print(f"{seconds:8.2f} {seconds / took:6.1%} {calls:6d}  {label}")


if __name__ == "__main__":
    main()
