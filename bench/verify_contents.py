#!/usr/bin/env python
"""What ``ledger verify --contents`` costs beside a plain ``ledger verify``, on the same ledger.

Ingests the synthetic observations of ``bench/ingest.py`` (every save framed by the inline
drain), then times ``ledger_verify()`` and ``ledger_verify(contents=True)`` alternately, three
times each, and prints the medians, the time per signal and the ratio. ``--contents`` reads every
stored contract, compares it with its latest frame and every column that copies it with the
contract (issue 9), so it is expected to cost more; this says how much.

    .venv/bin/python bench/verify_contents.py                       # both backends
    .venv/bin/python bench/verify_contents.py --backend sqlite --observations 20000
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ROUNDS = 3


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_backend(backend: str, observations: int, markets: int) -> None:
    ingest_bench, ledger_bench = load("ingest"), load("ledger")
    workdir = ledger_bench.fresh_workdir("omen-bench-verify-contents-")
    ledger_bench.setup_django(workdir, ledger_bench.database_url(backend, workdir))
    from django.core.management import call_command

    from ledger.services.verify import ledger_verify
    from signals.models import Signal
    from signals.services.ingest import signals_ingest

    call_command("migrate", verbosity=0)
    signals_ingest(records=ingest_bench.synthetic_records(observations, markets))
    signals = Signal.objects.count()

    timings: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(ROUNDS):
        for contents in (False, True):  # alternated, so a slower moment of the machine hits both
            started = time.perf_counter()
            report = ledger_verify(contents=contents)
            timings[contents].append(time.perf_counter() - started)
            assert report.ok and not report.stalled, (report.problems[:3], report.stalled)
    plain, full = statistics.median(timings[False]), statistics.median(timings[True])
    print(
        f"{backend}: {signals:,} signals, {report.frames:,} frames; medians of {ROUNDS}\n"
        f"  ledger_verify()               {plain:6.2f} s  ({plain / signals * 1e6:5.1f} us/signal)\n"
        f"  ledger_verify(contents=True)  {full:6.2f} s  ({full / signals * 1e6:5.1f} us/signal)\n"
        f"  contents / plain              {full / plain:6.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--observations", type=int, default=50_000)
    parser.add_argument("--markets", type=int, default=5_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_backend(args.backend, args.observations, args.markets)
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:  # one process per backend: Django is set up once per process
        subprocess.run(
            [sys.executable, __file__, "--child", "--backend", backend, "--observations", str(args.observations),
             "--markets", str(args.markets)],
            check=True,
            cwd=ROOT,
            env=os.environ,
        )  # fmt: skip


if __name__ == "__main__":
    main()
