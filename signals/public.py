"""What other apps may use of the signals app, besides its models.

Everything else in ``signals`` is private to it; the import contracts in ``pyproject.toml``
hold that line (``make test`` runs them). Other apps write signals' rows only through what is
here, so a change to a column, to how a SourceEvent moves forward, or to how bulk saves are
announced is made once and reaches ingest and the ledger's replay and import alike (and
retention, once it writes).

The admin's signal page shows sections other apps contribute (the ledger's frames): an app that
may not be imported here registers a ``SignalPageSection`` from its ``AppConfig.ready``, and the
page renders every registered one in the order registered.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from signals.announcements import DeletedSignal, SavedSignal, signals_bulk_created, signals_bulk_deleted
from signals.models import Signal
from signals.models.contract import canonical_json
from signals.selectors import (
    PollTotals,
    pass_rate,
    poll_totals_by_source_and_outcome,
    rejection_counts_by_source_stage_and_rule,
    rejection_stats,
    signal_counts_by_source_and_day,
    signal_counts_by_source_and_status,
    signal_counts_by_source_type_and_status,
    signal_stats,
    signal_time_range,
    source_breaker_states,
    sources_overview,
    storage_totals,
)
from signals.services.rows import (
    EventKey,
    PointRow,
    RejectionRow,
    SignalRow,
    SourceEventObservations,
    SourceEventRow,
    signals_delete,
    signals_delete_announced,
    signals_delete_identified,
    signals_insert,
    signals_replace,
    source_events_upsert,
)
from signals.sources.registry import SOURCES

SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)


@dataclass(frozen=True)
class SignalPageSection:
    """A part of the admin's signal page that another app owns.

    ``render(request, signal)`` returns the section's HTML, every text in it escaped (a
    ``render_to_string``). The page places it inside its own ``<form method="post">``, which
    carries the CSRF token: a button posts it with ``formaction`` (a nested ``<form>`` is not
    HTML). ``title`` heads the section; ``key`` names it (its element's id is ``section-<key>``),
    and registering a key again replaces that section.
    """

    key: str
    title: str
    render: Callable[[HttpRequest, Signal], str]


_signal_page_sections: dict[str, SignalPageSection] = {}


def signal_page_section_register(section: SignalPageSection) -> None:
    _signal_page_sections[section.key] = section


def signal_page_sections() -> list[SignalPageSection]:
    return list(_signal_page_sections.values())


__all__ = [
    # Writing rows in bulk (signals.services.rows)
    "EventKey",
    "PointRow",
    "RejectionRow",
    "SignalRow",
    "SourceEventObservations",
    "SourceEventRow",
    "signals_delete",
    "signals_delete_announced",
    "signals_delete_identified",
    "signals_insert",
    "signals_replace",
    "source_events_upsert",
    # Announcing bulk saves and deletes, and the stored form of a contract
    "DeletedSignal",
    "SavedSignal",
    "canonical_json",
    "signals_bulk_created",
    "signals_bulk_deleted",
    # Reading, for reports (signals.selectors)
    "signal_counts_by_source_and_status",
    "signal_time_range",
    "storage_totals",
    # Aggregates /metrics reads at every scrape (signals.selectors)
    "PollTotals",
    "poll_totals_by_source_and_outcome",
    "rejection_counts_by_source_stage_and_rule",
    "signal_counts_by_source_type_and_status",
    "source_breaker_states",
    # The admin's dashboard: a window's counts, the pass rate, each source's health (signals.selectors)
    "pass_rate",
    "rejection_stats",
    "signal_counts_by_source_and_day",
    "signal_stats",
    "sources_overview",
    # The sources' names, for the schedule (signals.sources.registry)
    "SOURCE_NAMES",
    # Sections other apps add to the admin's signal page
    "SignalPageSection",
    "signal_page_section_register",
    "signal_page_sections",
]
