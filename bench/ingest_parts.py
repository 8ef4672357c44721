#!/usr/bin/env python
"""Where ingest's time goes: its parts timed one after the other, without the overlap.

The same synthetic observations as ``bench/ingest.py`` go through ingest's steps in one thread,
batch by batch, each step timed on its own: parse (reply -> RawEvents), prepare (pipeline and
typed rows), write (the bulk statements and the outbox rows, one transaction per batch) and the
ledger's drain after each commit (frames, fsync, outbox rows deleted), timed by wrapping
``ledger_drain`` as the inline drain calls it. ``signals_ingest`` runs prepare in a helper thread
while the caller writes, so its wall time is below the sum; ``bench/ingest.py`` measures that.

    .venv/bin/python bench/ingest_parts.py                    # both backends, 100,000 observations
    .venv/bin/python bench/ingest_parts.py --backend sqlite --observations 20000
"""

import argparse
import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def load_ingest_bench():
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCH / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_backend(backend: str, observations: int, markets: int, batch_size: int) -> None:
    bench = load_ingest_bench()
    workdir = Path(tempfile.mkdtemp(prefix="omen-bench-parts-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    if backend == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        os.environ["DATABASE_URL"] = bench.fresh_postgres(bench.BENCH_DB)
    os.environ.update(OMEN_ENV_FILE="/dev/null", OMEN_VAR_DIR=str(workdir), LOG_LEVEL="WARNING", DEBUG="false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    import ledger.services.writer as writer
    from signals.pipeline import RawEvent
    from signals.services.ingest.prepare import batch_prepare, refusal
    from signals.services.ingest.write import batch_write
    from signals.sources.polymarket import parse_markets
    from utilities.bulk_sql import datetime_adapter

    call_command("migrate", verbosity=0)

    drain: dict = {}
    bench.time_calls(writer, "ledger_drain", drain)

    markets_iter = bench.synthetic_markets(observations, markets)
    fetched_at = datetime(2026, 11, 1, tzinfo=UTC)
    history: dict = {}
    to_db = datetime_adapter()
    parse = prepare = write = 0.0
    created = 0
    while chunk := [market for _, market in zip(range(batch_size), markets_iter, strict=False)]:
        started = time.perf_counter()
        parsed_records = parse_markets(chunk, fetched_at=fetched_at)
        records = [(refusal(r) or r) if isinstance(r, RawEvent) else r for r in parsed_records]
        parsed = time.perf_counter()
        prepared = batch_prepare(records, history, {}, to_db)
        ready = time.perf_counter()
        drain_before = drain["seconds"]
        with transaction.atomic():
            created += len(batch_write(prepared))
        done = time.perf_counter()
        parse += parsed - started
        prepare += ready - parsed
        write += (done - ready) - (drain["seconds"] - drain_before)

    total = parse + prepare + write + drain["seconds"]
    print(f"{backend:<10} {observations} observations -> {created} signals, batches of {batch_size}")
    for name, seconds in (("parse", parse), ("prepare", prepare), ("write", write), ("ledger drain", drain["seconds"])):
        print(f"{'':<10} {name:<13} {seconds:6.2f} s  {seconds / total:5.1%}  {seconds / created * 1e6:6.1f} us/signal")
    print(f"{'':<10} {'serial sum':<13} {total:6.2f} s = {created / total:6.0f} signals/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--markets", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()
    if args.backend == "both":
        for backend in ("sqlite", "postgresql"):
            subprocess.run(
                [sys.executable, __file__, "--backend", backend, "--observations", str(args.observations),
                 "--markets", str(args.markets), "--batch-size", str(args.batch_size)],
                check=True,
            )  # fmt: skip
        return
    run_backend(args.backend, args.observations, args.markets, args.batch_size)


if __name__ == "__main__":
    main()
