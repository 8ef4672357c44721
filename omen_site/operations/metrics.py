"""``/metrics``: Prometheus's text format.

Two kinds of figure, kept apart on purpose:

- Facts every process shares -- signals and rejections stored, polls, the ledger outbox and the
  writer's frames and fsyncs -- are read from the database when Prometheus scrapes
  (``DatabaseCollector``), by a handful of aggregate queries. Any web process answers the same,
  so a deployment of many gunicorn workers reports one truth.
- Request latency is measured where requests are served (``RequestLatencyMiddleware``), so it is
  per process: a scrape sees the worker that answered it. With ``PROMETHEUS_MULTIPROC_DIR`` set
  (prometheus_client's multiprocess mode: an empty directory, made before the workers start),
  every worker writes its figures there and a scrape sums all of them.

In development ``/metrics`` is public. In production it answers only when ``METRICS_PUBLIC`` is
true or the request carries an API key with the ``read:stats`` or ``admin`` scope (``X-API-Key``,
or ``Authorization: Bearer``, which Prometheus's scrape configuration sends); anything else gets
a 403 in the API's error shape.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from ledger.public import writer_health, writer_totals
from omen_site.api.keys import READ_STATS, ApiKey
from omen_site.middleware import api_error_response
from signals.models import SourceRun, SourceState
from signals.public import (
    poll_totals_by_source_and_outcome,
    rejection_counts_by_source_stage_and_rule,
    signal_counts_by_source_type_and_status,
    source_breaker_states,
)

log = logging.getLogger("omen.metrics")

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Polls end by SOURCE_POLL_DEADLINE_SECONDS (60) or the soft time limit (90): bounds up to there.
POLL_DURATION_BOUNDS = (0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120)
# Runs that fetched; skipped ones (busy, circuit open, disabled) end at once and would blur the figure.
POLLS_THAT_FETCHED = (SourceRun.Outcome.OK, SourceRun.Outcome.FAILED)
# Queries of one scrape stop after this on PostgreSQL: under Prometheus's default scrape timeout.
SCRAPE_STATEMENT_TIMEOUT_MS = 5000
# Anything else a client sends is one label value, so made-up methods cannot grow the series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_LATENCY = Histogram(
    "omen_http_request_duration_seconds",
    "Time to answer a request, by the route pattern that matched (per process; see PROMETHEUS_MULTIPROC_DIR).",
    ["method", "route", "status"],
    registry=None,  # each scrape builds its registry (see metrics_registry)
)


class RequestLatencyMiddleware:
    """Times every request, labelled by its URL pattern (``api/v1/signals/<str:signal_id>/``).

    The raw path would make a series per signal id; a path no pattern matches is ``unmatched``.
    Right after SecurityMiddleware (and WhiteNoise, in production): the time includes every other
    middleware, and static files and HTTPS redirects are left out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "other"
        REQUEST_LATENCY.labels(method, route, str(response.status_code)).observe(time.perf_counter() - started)
        return response


class DatabaseCollector:
    """Everything the processes share, read from the database at each scrape."""

    def describe(self):
        return []  # registering must not query the database; collect() says what there is

    def collect(self):
        started = time.perf_counter()
        try:
            with _bounded_queries():
                families = list(self._families())
        except DatabaseError as exc:
            log.warning("metrics: the database did not answer: %s", exc)
            families, up = [], 0
        else:
            up = 1
        yield from families
        yield GaugeMetricFamily("omen_metrics_database_up", "1 if this scrape read the database, else 0.", value=up)
        yield GaugeMetricFamily(
            "omen_metrics_database_seconds",
            "Time this scrape spent reading the database.",
            value=time.perf_counter() - started,
        )

    def _families(self):
        signals = GaugeMetricFamily(
            "omen_signals_stored", "Signals in the database.", labels=["source", "signal_type", "status"]
        )
        for source, signal_type, status, count in signal_counts_by_source_type_and_status():
            signals.add_metric([source, signal_type, status], count)
        yield signals

        rejections = GaugeMetricFamily(
            "omen_rejections_stored",
            "Rejections in the database, by the stage and rule that refused the input.",
            labels=["source", "stage", "rule"],
        )
        for source, stage, rule, count in rejection_counts_by_source_stage_and_rule():
            rejections.add_metric([source, stage, rule], count)
        yield rejections

        yield from _poll_families(poll_totals_by_source_and_outcome(duration_bounds=POLL_DURATION_BOUNDS))

        circuit_open = GaugeMetricFamily(
            "omen_source_circuit_open", "1 while a source's circuit breaker is open or probing.", labels=["source"]
        )
        failures = GaugeMetricFamily(
            "omen_source_consecutive_failures", "Failed polls of a source since its last success.", labels=["source"]
        )
        for source, breaker, consecutive_failures in source_breaker_states():
            circuit_open.add_metric([source], int(breaker != SourceState.Breaker.CLOSED))
            failures.add_metric([source], consecutive_failures)
        yield circuit_open
        yield failures

        health = writer_health()
        age = health.oldest_pending_age
        yield GaugeMetricFamily(
            "omen_ledger_outbox_pending", "Saves waiting in the ledger outbox for the writer.", value=health.pending
        )
        yield GaugeMetricFamily(
            "omen_ledger_outbox_oldest_age_seconds",
            "How long the oldest save has waited in the ledger outbox (0 when none waits).",
            value=0.0 if age is None else max(0.0, age.total_seconds()),
        )
        yield GaugeMetricFamily(
            "omen_ledger_writer_failing",
            "1 if the last ledger drain failed, else 0.",
            value=int(bool(health.last_error)),
        )

        totals = writer_totals()
        yield CounterMetricFamily(
            "omen_ledger_frames_written", "Frames the ledger writer has appended.", value=totals.frames_written
        )
        yield CounterMetricFamily(
            "omen_ledger_fsyncs", "fsyncs that made appended frames durable (one per segment per batch).",
            value=totals.fsync_count,
        )  # fmt: skip
        yield CounterMetricFamily(
            "omen_ledger_fsync_seconds", "Time spent in those fsyncs.", value=totals.fsync_seconds
        )
        if totals.last_fsync_seconds is not None:
            yield GaugeMetricFamily(
                "omen_ledger_last_fsync_seconds", "How long the latest fsync took.", value=totals.last_fsync_seconds
            )


def _poll_families(totals):
    # A run is recorded "running" and then changes outcome: counted as it ends, and the ones still
    # running are a gauge, so the counter never goes down (a drop would read as a counter reset).
    polls = CounterMetricFamily("omen_source_polls", "Polls ended, by outcome.", labels=["source", "outcome"])
    running = GaugeMetricFamily("omen_source_polls_running", "Polls under way.", labels=["source"])
    last = GaugeMetricFamily(
        "omen_source_last_poll_timestamp_seconds",
        "When a source's latest poll with this outcome finished (Unix time).",
        labels=["source", "outcome"],
    )
    durations = HistogramMetricFamily(
        "omen_source_poll_duration_seconds", "Time a poll that fetched took, start to finish.", labels=["source"]
    )
    fetched: dict[str, list] = {}
    for row in totals:
        if row.outcome == SourceRun.Outcome.RUNNING:
            running.add_metric([row.source], row.runs)
            continue
        polls.add_metric([row.source, row.outcome], row.runs)
        if row.last_finished_at is not None:
            last.add_metric([row.source, row.outcome], row.last_finished_at.timestamp())
        if row.outcome in POLLS_THAT_FETCHED:
            at_most, finished, seconds = fetched.setdefault(row.source, [[0] * len(POLL_DURATION_BOUNDS), 0, 0.0])
            fetched[row.source] = [
                [a + b for a, b in zip(at_most, row.at_most, strict=True)],
                finished + row.finished,
                seconds + row.seconds,
            ]
    for source, (at_most, finished, seconds) in sorted(fetched.items()):
        buckets = [(floatToGoString(bound), count) for bound, count in zip(POLL_DURATION_BOUNDS, at_most, strict=True)]
        durations.add_metric([source], [*buckets, ("+Inf", finished)], sum_value=seconds)
    return [polls, running, last, durations]


@contextmanager
def _bounded_queries():
    """On PostgreSQL, one transaction whose statements stop at SCRAPE_STATEMENT_TIMEOUT_MS.

    SQLite has no statement timeout, and its transactions here begin IMMEDIATE (they take the
    write lock): there the queries run in autocommit.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}")
        yield


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        MultiProcessCollector(registry)  # every worker's request latency, summed
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(DatabaseCollector())
    return registry


def _refusal(request):
    """Why this request may not read the metrics, or None when it may."""
    if settings.METRICS_PUBLIC:
        return None
    raw = request.headers.get("X-API-Key", "")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if not raw and scheme.lower() == "bearer":
        raw = credentials
    if not raw:
        return api_error_response(
            request,
            403,
            "not_authenticated",
            "The metrics need an API key with the read:stats or admin scope, in the X-API-Key header "
            "or as a bearer token.",
        )
    key = ApiKey.find(raw.strip())
    if key is None:
        return api_error_response(request, 403, "invalid_api_key", "The API key is unknown or revoked.")
    if not key.allows(READ_STATS):  # admin holds every scope
        return api_error_response(request, 403, "missing_scope", f"This key lacks the scope {READ_STATS!r}.")
    key.record_use()
    return None


@never_cache
@require_safe
def metrics(request):
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
