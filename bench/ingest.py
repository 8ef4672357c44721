#!/usr/bin/env python
"""Ingest throughput: parse + pipeline + persistence of synthetic Polymarket observations.

Prints, for each backend, signals/s through ``signals_ingest`` next to a raw
psycopg ``COPY`` of the very same signal rows into an identical PostgreSQL
table (same columns, same indexes) measured in the same run, and the peak RSS
of the ingest. Each backend runs in a process of its own, on a fresh database.

    .venv/bin/python bench/ingest.py                     # both backends, 100,000 observations
    .venv/bin/python bench/ingest.py --backend sqlite --observations 20000
"""

import argparse
import atexit
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "omen_bench"
COPY_DB = "omen_bench_copy"

# Questions a risk desk would want signals on; the numbers make each market distinct.
TOPICS = [
    "Will Houthi attacks close the Red Sea shipping route to container ships by {month} {year}?",
    "Will the Suez Canal suspend commercial transits for 48 hours before {month} {year}?",
    "Will Iran close the Strait of Hormuz to tanker traffic before {month} {year}?",
    "Will a dockworkers strike shut US East Coast ports before {month} {year}?",
    "Will the Panama Canal cut daily transits because of drought by {month} {year}?",
    "Will the US impose new tariffs on Chinese semiconductors by {month} {year}?",
    "Will the EU adopt new sanctions on Russian oil exports by {month} {year}?",
    "Will China blockade Taiwan before {month} {year}?",
]
MONTHS = ["January", "March", "May", "July", "September", "November"]
DESCRIPTION = (
    'This market will resolve to "Yes" if the event described in the title happens by the date given, '
    "as reported by at least two major news organisations (Reuters, Associated Press, Bloomberg). "
    'Otherwise it resolves to "No". Partial or temporary measures count only if they last 48 hours. '
) * 4  # ~1 KB, like real Gamma descriptions


def synthetic_markets(observations: int, markets: int, seed: int = 7):
    """Gamma-shaped market dicts: ``markets`` markets polled until ``observations`` are made."""
    rng = random.Random(seed)
    prices = [rng.uniform(0.1, 0.9) for _ in range(markets)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(observations):
        market, poll = n % markets, n // markets
        prices[market] = min(0.94, max(0.06, prices[market] + rng.uniform(-0.02, 0.02)))
        question = TOPICS[market % len(TOPICS)].format(month=MONTHS[market % 6], year=2027 + market // 48)
        yield {
            "id": str(1_000_000 + market),
            "question": f"{question} (#{market})",
            "description": DESCRIPTION,
            "slug": f"bench-market-{market}",
            "outcomePrices": f'["{prices[market]:.4f}", "{1 - prices[market]:.4f}"]',
            "liquidityNum": 20_000 + market,
            "volumeNum": 500_000 + 10 * n,
            "oneDayPriceChange": round(rng.uniform(-0.03, 0.03), 4),
            "updatedAt": (start + timedelta(minutes=2 * poll)).isoformat().replace("+00:00", "Z"),
        }


def synthetic_records(observations: int, markets: int):
    """The synthetic markets parsed in poll-sized chunks, as a worker would receive them."""
    from signals.sources.polymarket import parse_markets

    fetched_at = datetime(2026, 11, 1, tzinfo=UTC)
    chunk = []
    for market in synthetic_markets(observations, markets):
        chunk.append(market)
        if len(chunk) == markets:
            yield from parse_markets(chunk, fetched_at=fetched_at)
            chunk = []
    yield from parse_markets(chunk, fetched_at=fetched_at)


def time_calls(module, attribute: str, totals: dict) -> None:
    """Replace ``module.attribute`` by a wrapper that adds each call's seconds and a count to ``totals``.

    The ledger's inline drain looks ``ledger_drain`` up on its module at call time, so wrapping the
    module attribute times every drain after a commit.
    """
    real = getattr(module, attribute)
    totals.setdefault("seconds", 0.0)
    totals.setdefault("calls", 0)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            totals["seconds"] += time.perf_counter() - started
            totals["calls"] += 1

    setattr(module, attribute, timed)


def fresh_postgres(name):
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_backend(backend, observations, markets, batch_size):
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    if backend == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        os.environ["DATABASE_URL"] = fresh_postgres(BENCH_DB)
    # DEBUG off, as in production (DEBUG also makes Django log every query).
    os.environ.update(OMEN_ENV_FILE="/dev/null", OMEN_VAR_DIR=str(workdir), LOG_LEVEL="WARNING", DEBUG="false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from signals.models import Signal
    from signals.services.ingest import signals_ingest

    call_command("migrate", verbosity=0)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    summary = signals_ingest(records=synthetic_records(observations, markets), batch_size=batch_size)
    elapsed = time.perf_counter() - started
    rss_ingest = peak_rss_mb()

    copy_rate = copy_baseline(Signal)
    print(
        f"{backend:<10} observations={summary.fetched} signals={summary.created} rejected={summary.rejected} "
        f"unchanged={summary.unchanged}\n"
        f"{'':<10} signals_ingest: {elapsed:6.2f} s = {summary.created / elapsed:8.0f} signals/s "
        f"({summary.fetched / elapsed:.0f} observations/s)\n"
        f"{'':<10} raw psycopg COPY of the same signal rows: {copy_rate:8.0f} rows/s "
        f"(ingest/COPY = {summary.created / elapsed / copy_rate:.2f})\n"
        f"{'':<10} peak RSS: {rss_ingest:.0f} MB (before ingest {rss_before:.0f} MB)",
        flush=True,
    )


def copy_baseline(Signal):
    """COPY the ingested signal rows into an empty table shaped like the signal table."""
    import orjson
    import psycopg

    columns = [f.column for f in Signal._meta.concrete_fields if f.column != "id"]
    rows = []
    attnames = [f.attname for f in Signal._meta.concrete_fields if f.column != "id"]
    for values in Signal.objects.order_by("id").values_list(*attnames).iterator(chunk_size=5000):
        row = list(values)
        row[-1] = orjson.dumps(row[-1]).decode()  # contract: as text, as the ingest sends it
        rows.append(row)

    url = fresh_postgres(COPY_DB)
    with psycopg.connect(url) as conn:
        # The real schema (same columns, constraints and indexes) from the migrations.
        env = dict(os.environ, DATABASE_URL=url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "signals", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        conn.execute("ALTER TABLE signals_signal DROP CONSTRAINT IF EXISTS signals_signal_event_id_fkey")
        for fk in conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'signals_signal'::regclass AND contype = 'f'"
        ).fetchall():
            conn.execute(f'ALTER TABLE signals_signal DROP CONSTRAINT "{fk[0]}"')
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY signals_signal ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{COPY_DB}" WITH (FORCE)')
    return len(rows) / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--markets", type=int, default=5_000, help="distinct markets; observations / markets polls")
    parser.add_argument("--batch-size", type=int, default=2000, help="as signals_ingest's default")
    args = parser.parse_args()
    if args.backend == "both":
        print(f"{args.observations} observations of {args.markets} markets, batch {args.batch_size}", flush=True)
        for backend in ("sqlite", "postgresql"):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--backend",
                    backend,
                    "--observations",
                    str(args.observations),
                    "--markets",
                    str(args.markets),
                    "--batch-size",
                    str(args.batch_size),
                ],
                check=True,
            )
        return
    run_backend(args.backend, args.observations, args.markets, args.batch_size)


if __name__ == "__main__":
    main()
