"""The vocabulary the pipeline decides with: the built-in terms and the operators' RelevanceTerms.

Read once per ingest call, so a poll or an ``ingest_file`` is decided by one vocabulary from its
first record to its last. Compiling a vocabulary costs milliseconds; the last few are kept, keyed
by the operators' terms, so an unchanged set is never compiled twice.
"""

from __future__ import annotations

from functools import lru_cache

from signals.models import RelevanceTerm
from signals.pipeline.text import DEFAULT_VOCABULARY, OperatorTerm, Vocabulary

__all__ = ["current_vocabulary"]


def current_vocabulary() -> Vocabulary:
    rows = tuple(
        RelevanceTerm.objects.filter(enabled=True).order_by("term").values_list("term", "kind", "category", "weight")
    )
    return _compiled(rows)


@lru_cache(maxsize=8)
def _compiled(rows: tuple[tuple[str, str, str, float], ...]) -> Vocabulary:
    if not rows:
        return DEFAULT_VOCABULARY
    return Vocabulary(OperatorTerm(*row) for row in rows)
