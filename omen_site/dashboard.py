"""The admin index's dashboard: what OMEN took in lately, and whether each of its parts keeps up.

Built from a few aggregate queries, each asked of the app that owns the data through its public
module (signals, the ledger, retention), and the storage report's description. None reads a
table whole; only the counts of the chart's 30 days and of the last 24 hours grow with what
OMEN takes in, each an index range. Every section has a line for an empty database ("none
yet"), so a fresh install shows an index page, not an error. ``templates/admin/omen_index.html``
shows it above the app list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from ledger.public import ledger_summary
from omen_site.storage import StorageDescription, backup_report, describe_storage
from retention.models import RetentionRun
from retention.public import last_run_of_each_policy
from signals.models import SourceRun
from signals.models.choices import Source
from signals.public import (
    SOURCE_NAMES,
    pass_rate,
    rejection_stats,
    signal_counts_by_source_and_day,
    signal_stats,
    sources_overview,
)
from utilities.charts import Html, Series, bar_chart, sparkline

CHART_DAYS = 30
RECENT = timedelta(hours=24)
TOP_REASONS = 5

ENGINE_NAMES = {"postgresql": "PostgreSQL", "sqlite3": "SQLite"}


@dataclass(frozen=True)
class SourceLine:
    source: str
    name: str
    health: str
    last_run: SourceRun | None
    signals_per_day: Html


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    # None when no signal was generated in the chart's days.
    signals_chart: Html | None
    signals_recent: int
    rejections_recent: int
    pass_rate: float | None
    top_reasons: list[dict]
    sources: list[SourceLine]
    # ledger.public.ledger_summary(), its last write as a datetime.
    ledger: dict
    retention_runs: list[RetentionRun]
    # omen_site.storage.backup_report(), its times as datetimes.
    backups: dict
    storage: str

    @property
    def pass_rate_percent(self) -> float | None:
        return None if self.pass_rate is None else round(self.pass_rate * 100, 1)

    @property
    def retention_started_at(self) -> datetime | None:
        return max((run.started_at for run in self.retention_runs), default=None)

    @property
    def retention_not_ok(self) -> list[RetentionRun]:
        """The policies whose last run failed, was interrupted or is still running."""
        return [run for run in self.retention_runs if run.status != RetentionRun.Status.OK]

    @property
    def retention_deleted(self) -> int:
        return sum(run.deleted for run in self.retention_runs)

    @property
    def no_source_polled(self) -> bool:
        return all(line.last_run is None for line in self.sources)


def dashboard(now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=back) for back in reversed(range(CHART_DAYS))]
    since = datetime.combine(days[0], time.min, UTC)
    per_source = _per_source_and_day(since, since + timedelta(days=CHART_DAYS), days)
    signals, rejections = signal_stats(now - RECENT, now), rejection_stats(now - RECENT, now, top=TOP_REASONS)
    ledger = ledger_summary()
    backups = backup_report(now)
    return Dashboard(
        now=now,
        signals_chart=_signals_chart(days, per_source),
        signals_recent=signals["total"],
        rejections_recent=rejections["total"],
        pass_rate=pass_rate(signals["total"], rejections["total"]),
        top_reasons=rejections["top_reasons"],
        sources=[_source_line(row, days, per_source.get(row["source"])) for row in sources_overview(SOURCE_NAMES)],
        ledger=ledger | {"last_written_at": _datetime(ledger["last_written_at"])},
        retention_runs=last_run_of_each_policy(),
        backups=backups | {name: _backup_times(backups[name]) for name in ("newest", "newest_proven")},
        storage=storage_line(describe_storage()),
    )


def storage_line(storage: StorageDescription) -> str:
    """Whether the data survives a restart, and in which database: the storage report in one line."""
    engine = ENGINE_NAMES.get(storage.database_engine, storage.database_engine)
    if storage.persistent:
        return f"persisted: yes, {engine} {storage.database} ({storage.mode} mode)"
    return f"persisted: NO, {engine} in memory ({storage.database}): lost when the process exits ({storage.mode} mode)"


def _per_source_and_day(since: datetime, until: datetime, days: list[date]) -> dict[str, list[int]]:
    """Each source with signals in the window: its count on each of ``days``, in the sources' order."""
    counts: dict[str, list[int]] = {}
    position = {day: index for index, day in enumerate(days)}
    for source, day, count in signal_counts_by_source_and_day(since, until):
        counts.setdefault(source, [0] * len(days))[position[day]] = count
    return dict(sorted(counts.items(), key=lambda item: Source.values.index(item[0])))


def _signals_chart(days: list[date], per_source: dict[str, list[int]]) -> Html | None:
    total = sum(sum(counts) for counts in per_source.values())
    if not total:
        return None
    return bar_chart(
        chart_id="omen-signals-per-day",
        title=f"Signals per source per day, last {CHART_DAYS} days (UTC)",
        description=(
            f"One column per UTC day from {days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}. A column stacks one bar "
            f"for each source that generated signals that day, its height the number of signals. "
            f"{total:,} signals in all."
        ),
        categories=[day.isoformat() for day in days],
        axis_labels=[f"{day:%m-%d}" for day in days],
        category_name="day (UTC)",
        series=[Series(_source_name(source), counts) for source, counts in per_source.items()],
        stacked=True,
    )


def _source_line(overview: dict, days: list[date], per_day: list[int] | None) -> SourceLine:
    name = _source_name(overview["source"])
    return SourceLine(
        source=overview["source"],
        name=name,
        health=overview["health"],
        last_run=overview["last_run"],
        signals_per_day=sparkline(
            chart_id=f"omen-source-{overview['source']}-per-day",
            title=f"{name}: signals per day, last {CHART_DAYS} days",
            values=per_day or [0] * len(days),
            labels=[day.isoformat() for day in days],
        ),
    )


def _source_name(source: str) -> str:
    return Source(source).label


def _backup_times(backup: dict | None) -> dict | None:
    if backup is None:
        return None
    return backup | {"started_at": _datetime(backup["started_at"]), "proven_at": _datetime(backup["proven_at"])}


def _datetime(iso: str | None) -> datetime | None:
    """A report's ISO time back as a datetime, for the template to format like the others."""
    return None if iso is None else datetime.fromisoformat(iso)
