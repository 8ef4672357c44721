"""Line and branch coverage apart, for the whole and for the parts the suite guards most.

``coverage report`` prints one percentage that mixes lines and branches; this reads the JSON
report (``coverage json``) and prints each on its own, then every file of those parts that
misses a branch. Run by ``make coverage``::

    python -m tests.support.coverage_summary var/coverage/coverage.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The parts whose branch coverage is held to a target (README, "Testing").
PARTS = ("ledger/", "signals/services/")
TARGET = 90.0


def percent(covered: int, total: int) -> str:
    return f"{100 * covered / total:5.1f}% ({covered}/{total})" if total else "    -"


def totals(files: dict[str, dict]) -> tuple[int, int, int, int]:
    summaries = [entry["summary"] for entry in files.values()]
    return (
        sum(s["covered_lines"] for s in summaries),
        sum(s["num_statements"] for s in summaries),
        sum(s["covered_branches"] for s in summaries),
        sum(s["num_branches"] for s in summaries),
    )


def main(report_path: str) -> int:
    files = json.loads(Path(report_path).read_text())["files"]
    print(f"{'':<20}{'lines':<24}branches")
    below = []
    for label, prefix in (("everything measured", ""), *((part, part) for part in PARTS)):
        covered_lines, lines, covered_branches, branches = totals(
            {name: entry for name, entry in files.items() if name.startswith(prefix)}
        )
        print(f"{label:<20}{percent(covered_lines, lines):<24}{percent(covered_branches, branches)}")
        if prefix and branches and 100 * covered_branches / branches < TARGET:
            below.append(label)
    print("\nBranches missed, per file of " + " and ".join(PARTS) + " (missed of total; partial lines):")
    for name, entry in sorted(files.items()):
        summary = entry["summary"]
        if name.startswith(PARTS) and summary["missing_branches"]:
            print(
                f"  {name:<44}{summary['missing_branches']:>4} of {summary['num_branches']:<4}"
                f"{summary['num_partial_branches']:>4} partial"
            )
    if below:
        print(f"\nbranch coverage under {TARGET:g}%: {', '.join(below)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
