#!/usr/bin/env python
"""Precision and recall of the relevance rules on the hand-labelled set.

Every record of the recorded replies (``../shared/fixtures/recorded``) carries an analyst's label
in ``tests/data/relevance_labels.csv``; this runs the relevance rules alone on each (see
``signals.pipeline.relevance``), with the built-in vocabulary, and prints precision, recall, the
confusion table and every disagreement (id, title, the rule that decided, its reasoning).
``tests/signals/pipeline/test_relevance_labels.py`` pins the figures' floor.

    .venv/bin/python bench/relevance.py
    .venv/bin/python bench/relevance.py --quiet      # figures only
"""

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signals.pipeline.relevance import relevance_verdict  # noqa: E402
from tests.support.relevance_set import labels, score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print the figures, not the disagreements")
    args = parser.parse_args()

    result = score(relevance_verdict)
    total = len(labels())
    print(f"labelled records: {total}")
    print(f"precision {result.precision:.3f}   recall {result.recall:.3f}")
    print()
    print("                    labelled relevant   labelled not relevant")
    print(f"  kept (relevant)   {result.true_positive:>17}   {result.false_positive:>21}")
    print(f"  rejected          {result.false_negative:>17}   {result.true_negative:>21}")
    if args.quiet:
        return
    for title, wanted in (("missed (labelled relevant, rejected)", True), ("kept but labelled not relevant", False)):
        rows = [d for d in result.disagreements if d.label.relevant is wanted]
        print(f"\n{title}: {len(rows)}")
        for d in rows:
            print(f"  {d.label.source}:{d.label.external_id}  {d.label.title[:90]}")
            print(f"    label: {d.label.reason}")
            decided = d.rule or "all relevance rules passed"
            print(textwrap.indent(textwrap.shorten(f"{decided}: {d.reason}", 300), "    rules: "))


if __name__ == "__main__":
    main()
