#!/usr/bin/env python
"""Events per second through the pure pipeline (``analyse`` and ``evaluate``), on the recorded markets.

Each tree (this checkout, and any ``--tree`` given, e.g. a ``git worktree`` of an older commit)
is timed in its own process, alternately, ``--rounds`` times: 20 passes over the 250 recorded
Polymarket markets, median of 7 per process. No database, no Django.

    .venv/bin/python bench/pipeline.py
    git worktree add /tmp/before 161c5a8 && .venv/bin/python bench/pipeline.py --tree /tmp/before
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import statistics, sys, time
sys.path.insert(0, {tree!r})
from signals.pipeline import evaluate
from signals.pipeline.text import analyse
from tests.support.recorded import recorded_markets
events = [e for e in recorded_markets() if hasattr(e, "title")]
def rate(step):
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(20):
            for e in events:
                step(e)
        times.append(time.perf_counter() - start)
    return 20 * len(events) / statistics.median(times)
print(f"{{rate(lambda e: analyse(e.title, e.description, e.keywords)):.0f}} {{rate(evaluate):.0f}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], help="another checkout to time beside this one")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    trees = [str(Path(tree).resolve()) for tree in args.tree] + [str(ROOT)]
    figures: dict[str, list[tuple[int, int]]] = {tree: [] for tree in trees}
    for _ in range(args.rounds):
        for tree in trees:
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(tree=tree)], cwd=tree, capture_output=True, text=True, check=True
            )
            analyse_rate, evaluate_rate = map(int, out.stdout.split())
            figures[tree].append((analyse_rate, evaluate_rate))
    print(f"{'tree':<40} {'analyse events/s':>24} {'evaluate events/s':>24}")
    for tree, runs in figures.items():
        analyse_rates = " · ".join(f"{a:,}" for a, _ in runs)
        evaluate_rates = " · ".join(f"{e:,}" for _, e in runs)
        print(f"{tree:<40} {analyse_rates:>24} {evaluate_rates:>24}")


if __name__ == "__main__":
    main()
