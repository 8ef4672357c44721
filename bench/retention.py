#!/usr/bin/env python
"""Retention speed: the signals sweep over a large expired backlog while another process reads.

PostgreSQL: 2,000,000 signals (built once as a template database, ``--rebuild`` to redo it), half of
them past the signals policy. Each run copies the template, times one plain ``DELETE`` of the
expired rows (rolled back) as the baseline, then runs ``manage.py retention sweep --policy
signals`` (archive files, deletes in batches, a ledger delete frame for each signal) while a
reader process loops over the newest-first list page and signal details. SQLite: the same with
200,000 signals in a file database (``--sqlite``).

Prints the sweep's rows/s beside the plain DELETE's, the reader's slowest read and how many reads
failed (a "database is locked" counts), and who kept the machine's cores busy during the sweep
(the sweep, the reader, PostgreSQL's processes for the run database). It prints figures; it
asserts nothing.

    .venv/bin/python bench/retention.py              # PostgreSQL, 2,000,000 signals
    .venv/bin/python bench/retention.py --sqlite     # SQLite, 200,000 signals
    .venv/bin/python bench/retention.py --signals 200000 --batch-size 2000
    .venv/bin/python bench/retention.py --expired-days 1   # every expired signal on one day
"""

import argparse
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api import POSTGRES_ADMIN_URL, database_url, fill, machine_cpu_seconds, template_contracts  # noqa: E402

TEMPLATE_DB = "omen_bench_retention"
RUN_DB = "omen_bench_retention_run"
# fill() spreads generated_at over this year, evenly: the policy is set to expire its first half.
FIRST, LAST = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def expiring_half(now: datetime, fraction: float = 0.5) -> tuple[str, datetime]:
    """The RETENTION_KEEP_SIGNALS value that expires ``fraction`` of the year (half), and its cutoff."""
    keep = now - (FIRST + (LAST - FIRST) * fraction)
    seconds = int(keep.total_seconds())
    return f"{seconds}s", now - timedelta(seconds=seconds)


# --- PostgreSQL -------------------------------------------------------------------------------------


def postgres_template(signals: int, rebuild: bool) -> None:
    import psycopg

    url = database_url(TEMPLATE_DB)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE_DB,)).fetchone()
    if exists and not rebuild:
        with psycopg.connect(url) as conn:
            built = conn.execute("SELECT to_regclass('bench_built') IS NOT NULL").fetchone()[0]
            if built and conn.execute("SELECT signals FROM bench_built").fetchone()[0] == signals:
                return
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    started = time.perf_counter()
    env = dict(os.environ, DATABASE_URL=url, OMEN_ENV_FILE="/dev/null", DEBUG="false", LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    templates = template_contracts(url)
    with psycopg.connect(url, autocommit=True) as conn:
        fill(conn, signals, templates)
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CREATE TABLE bench_built (signals bigint)")
        conn.execute("INSERT INTO bench_built VALUES (%s)", (signals,))
    print(f"build: template {TEMPLATE_DB}, {signals:,} signals in {time.perf_counter() - started:.0f} s", flush=True)


def postgres_copy() -> str:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{TEMPLATE_DB}"')
    env = dict(os.environ, DATABASE_URL=database_url(RUN_DB), OMEN_ENV_FILE="/dev/null", LOG_LEVEL="WARNING")
    # Migrations added since the template was built reach the copy first.
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(database_url(RUN_DB), autocommit=True) as conn:
        # The build's pipeline run framed its templates into a throw-away ledger: this run's ledger
        # directory is new and empty, and the writer must start it from nothing (its frame references
        # too: left, they would collide with this run's first frames of the same day).
        conn.execute(
            "TRUNCATE ledger_ledgerwriterstate, ledger_ledgerpartition, ledger_ledgeroutbox, ledger_ledgerframeref"
        )
    print(f"copy: {RUN_DB} from the template in {time.perf_counter() - started:.0f} s", flush=True)
    return database_url(RUN_DB)


def postgres_crowd_expired(url: str, cutoff: datetime, days: int) -> None:
    """Move the expired signals' generated_at onto the first ``days`` days, keeping their order: a
    backlog whose days each hold far more signals than a sweep archives in one pass (DAY_PART)."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE signals_signal SET generated_at = %s + (generated_at - %s) * %s WHERE generated_at < %s",
            (FIRST, FIRST, days / ((cutoff - FIRST).total_seconds() / 86400), cutoff),
        )
        conn.execute("VACUUM ANALYZE signals_signal")
        crowded = conn.execute(
            "SELECT count(*), count(DISTINCT date_trunc('day', generated_at AT TIME ZONE 'UTC')) FROM signals_signal "
            "WHERE generated_at < %s",
            (cutoff,),
        ).fetchone()
    print(
        f"crowded: the {crowded[0]:,} expired signals moved onto {crowded[1]} day(s) "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def postgres_plain_delete(url: str, cutoff: datetime) -> tuple[int, float]:
    """One DELETE of the expired rows (the foreign key from source events cleared first, as the
    sweep does), rolled back: the database's own cost of removing them."""
    import psycopg

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute(
            "UPDATE signals_sourceevent SET latest_signal_id = NULL WHERE latest_signal_id IN "
            "(SELECT signal_id FROM signals_signal WHERE generated_at < %s)",
            (cutoff,),
        )
        deleted = conn.execute("DELETE FROM signals_signal WHERE generated_at < %s", (cutoff,)).rowcount
        took = time.perf_counter() - started
        conn.rollback()
    return deleted, took


# --- SQLite ------------------------------------------------------------------------------------------


def sqlite_database(path: Path, signals: int, env: dict) -> None:
    """A migrated file database with ``signals`` rows spread as fill() spreads them (one a poll's share)."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    templates = template_contracts_sqlite(env)
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    events = 4000
    db.executemany(
        "INSERT INTO signals_sourceevent (id, source, external_id, title, url, first_seen_at, last_seen_at, "
        "last_probability, recent_history) VALUES (?, 'polymarket', ?, ?, ?, ?, ?, 0.5, '[]')",
        [
            (e, str(500000 + e), f"Watch {e}: will the Red Sea route close?", f"https://example.com/{e}",
             FIRST.isoformat(" "), LAST.isoformat(" "))
            for e in range(1, events + 1)
        ],
    )  # fmt: skip
    step = (LAST - FIRST) / signals
    rows = []
    for i in range(1, signals + 1):
        signal_id, trace_id, contract = templates[i % len(templates)]
        new_trace = f"{(i * 2654435761) % 281474976710656:012x}{i % 65536:04x}"
        new_id = "OMEN-" + new_trace[:12].upper()
        generated = (FIRST + step * i).replace(tzinfo=None).isoformat(" ")
        rows.append(
            (i, new_id, 1 + i % events, "polymarket", f"polymarket-{500000 + 1 + i % events}", f"{i:064x}",
             new_trace, "2026.12.0+bench", "SHIPPING_ROUTE_RISK", "ACTIVE", "INFRASTRUCTURE", "MEDIUM",
             "Will the Red Sea route close?", 0.4, 0.6, generated, generated, generated,
             contract.replace(signal_id, new_id).replace(trace_id, new_trace))
        )  # fmt: skip
        if len(rows) == 10_000:
            _sqlite_insert(db, rows)
            rows = []
    _sqlite_insert(db, rows)
    db.commit()
    db.close()
    print(f"build: {signals:,} signals in {path.name} in {time.perf_counter() - started:.0f} s", flush=True)


def _sqlite_insert(db, rows) -> None:
    db.executemany(
        "INSERT INTO signals_signal (id, signal_id, event_id, source, source_event_id, input_event_hash, trace_id, "
        "ruleset_version, signal_type, status, category, confidence_level, title, probability, confidence, "
        f"observed_at, generated_at, created_at, contract) VALUES ({', '.join(['?'] * 19)})",
        rows,
    )


def template_contracts_sqlite(env: dict) -> list[tuple[str, str, str]]:
    """Real contracts from the pipeline, made in a throw-away PostgreSQL-free run: the same as api.py's."""
    scratch = Path(tempfile.mkdtemp(prefix="omen-bench-retention-templates-"))
    try:
        url = f"sqlite:///{scratch / 'templates.sqlite3'}"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=dict(env, DATABASE_URL=url, OMEN_VAR_DIR=str(scratch)),
            check=True,
        )
        return template_contracts(url)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sqlite_plain_delete(path: Path, cutoff: datetime) -> tuple[int, float]:
    db = sqlite3.connect(path)
    text = cutoff.replace(tzinfo=None).isoformat(" ")
    started = time.perf_counter()
    db.execute("BEGIN")
    db.execute(
        "UPDATE signals_sourceevent SET latest_signal_id = NULL WHERE latest_signal_id IN "
        "(SELECT signal_id FROM signals_signal WHERE generated_at < ?)",
        (text,),
    )
    deleted = db.execute("DELETE FROM signals_signal WHERE generated_at < ?", (text,)).rowcount
    took = time.perf_counter() - started
    db.rollback()
    db.close()
    return deleted, took


# --- The reader and the sweep ------------------------------------------------------------------------


def reader(env: dict, stop, results) -> None:
    """Newest-first list pages and a signal's detail, as the API reads them, until ``stop``."""
    os.environ.update(env)
    import django

    django.setup()
    from signals.models import Signal

    slowest, reads, failures, errors = 0.0, 0, 0, set()
    columns = ("id", "signal_id", "source", "status", "title", "probability", "generated_at")
    while not stop.is_set():
        for read in ("page", "detail"):
            began = time.perf_counter()
            try:
                if read == "page":
                    page = list(Signal.objects.only(*columns).order_by("-generated_at", "-id")[:51])
                else:
                    Signal.objects.filter(signal_id=page[len(page) // 2].signal_id).first()
            except Exception as exc:  # a locked database is what this watches for
                failures += 1
                errors.add(f"{type(exc).__name__}: {exc}")
                continue
            slowest = max(slowest, time.perf_counter() - began)
            reads += 1
    results.put({"reads": reads, "slowest_ms": slowest * 1000, "failures": failures, "errors": sorted(errors)})


def run_sweep(env: dict, batch_size: int | None, profile: str | None = None, watch=None) -> tuple[float, str]:
    command = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []), "manage.py"]
    command += ["retention", "sweep", "--policy", "signals"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if watch is not None:
        watch.add("sweep", process.pid)
    out, err = process.communicate()
    took = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"the sweep failed ({process.returncode}):\n{out}{err}")
    return took, out


class CpuWatch:
    """CPU seconds of named processes and of the database's server processes while the watch is
    on, sampled from /proc (a process's CPU is gone from /proc once it exits), and of the machine.

    A process added before the watch starts is counted from the start; one added during it, from
    its birth.
    """

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.pids: dict[int, str] = {}
        self.seen: dict[int, tuple[str, float]] = {}
        self._baseline: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def add(self, name: str, pid: int) -> None:
        self.pids[pid] = name

    def __enter__(self):
        self.machine = machine_cpu_seconds()[0]
        self.sample()
        self._baseline = {pid: cpu for pid, (_, cpu) in self.seen.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self.machine = machine_cpu_seconds()[0] - self.machine

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def sample(self) -> None:
        for pid, name in list(self.pids.items()):
            self._read(pid, name)
        if self.database:
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
                    except OSError:
                        continue
                    if f" {self.database} ".encode() in command:
                        self._read(int(proc.name), "PostgreSQL")

    def _read(self, pid: int, name: str) -> None:
        cpu = process_cpu_seconds(pid)
        if cpu is not None:
            self.seen[pid] = (name, cpu)

    def line(self, seconds: float) -> str:
        by_name: dict[str, float] = {}
        for pid, (name, cpu) in self.seen.items():
            by_name[name] = by_name.get(name, 0.0) + cpu - self._baseline.get(pid, 0.0)
        parts = ", ".join(f"{name} {cpu / seconds:.2f}" for name, cpu in by_name.items())
        return f"cores busy {self.machine / seconds:.2f} of {os.cpu_count()}: {parts} (CPU seconds a second, sampled)"


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process of this machine (its threads, not its children), from
    /proc; None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sweep_with_reader(
    env: dict, batch_size: int | None, profile: str | None = None, database: str | None = None
) -> dict:
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    process = context.Process(target=reader, args=(env, stop, results))
    process.start()
    try:
        time.sleep(3)  # the reader's Django is up and reading
        watch = CpuWatch(database)
        watch.add("reader", process.pid)  # counted from the sweep's start, not the reader's
        with watch:
            took, out = run_sweep(env, batch_size, profile, watch)
    finally:
        stop.set()
    figures = results.get(timeout=60)
    process.join()
    return {"seconds": took, "out": out, "cpu": watch.line(took), **figures}


def sweep_settings(workdir: Path, keep: str) -> dict[str, str]:
    """The environment a benched sweep runs with: its own ledger and archive under ``workdir``."""
    return {
        "OMEN_ENV_FILE": "/dev/null",
        "OMEN_VAR_DIR": str(workdir),
        "LEDGER_DIR": str(workdir / "ledger"),
        "RETENTION_ARCHIVE_DIR": str(workdir / "archive"),
        "RETENTION_KEEP_SIGNALS": keep,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "omen_site.settings",
    }


def run(args) -> None:
    now = datetime.now(UTC)
    keep, cutoff = expiring_half(now, args.fraction)
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-retention-"))
    env = dict(os.environ, **sweep_settings(workdir, keep))
    try:
        if args.sqlite:
            path = workdir / "bench.sqlite3"
            env["DATABASE_URL"] = f"sqlite:///{path}"
            sqlite_database(path, args.signals, env)
            expired, plain = sqlite_plain_delete(path, cutoff)
        else:
            postgres_template(args.signals, args.rebuild)
            env["DATABASE_URL"] = postgres_copy()
            if args.expired_days:
                postgres_crowd_expired(env["DATABASE_URL"], cutoff, args.expired_days)
            expired, plain = postgres_plain_delete(env["DATABASE_URL"], cutoff)
        print(f"plain DELETE (rolled back): {expired:,} rows in {plain:.1f} s = {expired / plain:,.0f} rows/s")
        figures = sweep_with_reader(env, args.batch_size, args.profile, None if args.sqlite else RUN_DB)
        archive_bytes = sum(p.stat().st_size for p in (workdir / "archive").rglob("*.jsonl.gz"))
        ledger_bytes = sum(p.stat().st_size for p in (workdir / "ledger").rglob("*.wal"))
        print(figures["out"].rstrip())
        rate = expired / figures["seconds"]
        print(
            f"sweep: {expired:,} expired signals archived, deleted and framed in {figures['seconds']:.1f} s = "
            f"{rate:,.0f} rows/s ({rate / (expired / plain):.2f} x the plain DELETE's rate); "
            f"archive {archive_bytes / 1e6:,.0f} MB, ledger {ledger_bytes / 1e6:,.0f} MB"
        )
        print(
            f"reader: {figures['reads']:,} reads during the sweep, slowest {figures['slowest_ms']:.1f} ms, "
            f"{figures['failures']} failed" + (f" ({'; '.join(figures['errors'])})" if figures["errors"] else "")
        )
        print(f"during the sweep: {figures['cpu']}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--signals", type=int, help="default 2,000,000 (PostgreSQL) or 200,000 (SQLite)")
    parser.add_argument("--batch-size", type=int, help="rows per delete transaction (default RETENTION_BATCH_SIZE)")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the signals expired (default half)")
    parser.add_argument("--profile", help="write the sweep's cProfile stats to this file")
    parser.add_argument("--rebuild", action="store_true", help=f"rebuild the template database {TEMPLATE_DB}")
    parser.add_argument(
        "--expired-days", type=int, help="PostgreSQL: crowd the expired signals onto this many days (default: as built)"
    )
    args = parser.parse_args()
    if args.sqlite and args.expired_days:
        parser.error("--expired-days is for PostgreSQL")
    args.signals = args.signals or (200_000 if args.sqlite else 2_000_000)
    run(args)


if __name__ == "__main__":
    main()
