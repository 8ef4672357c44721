"""factory-boy factories: the pure pipeline inputs, and one factory per model.

Pure (no database): ``RawEventFactory`` (a new market each call), ``FixedEventFactory`` and
``NewsEventFactory`` (one known market or article, for tests that compare ids and scores),
``ParseFailureFactory`` and ``history`` (earlier points of a market).

Models: the signals app's and the ledger's. ``SignalFactory`` saves through the ORM, so the
ledger's ``post_save`` receiver queues its frame as for any row save; its contract is what the
pipeline makes of a ``RawEventFactory`` event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ledger.models import LedgerOutbox, LedgerPartition, Operation
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent, SourceRun, SourceState
from signals.pipeline import Accepted, evaluate
from signals.pipeline.events import HistoryPoint, ParseFailure, RawEvent

# The moment FixedEventFactory's event describes.
OBSERVED_AT = datetime(2026, 2, 7, 20, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- pure: pipeline inputs


class RawEventFactory(factory.Factory):
    """A Polymarket observation the pipeline accepts (Red Sea shipping, ample liquidity).

    Each call is a market of its own, observed a minute after the previous one.
    """

    class Meta:
        model = RawEvent

    class Params:
        market = factory.Sequence(lambda n: str(700000 + n))

    source = "polymarket"
    external_id = factory.SelfAttribute("market")
    event_id = factory.LazyAttribute(lambda o: f"{o.source}-{o.external_id}")
    market_id = factory.SelfAttribute("market")
    title = "Will Houthi attacks close the Red Sea shipping route to container ships in 2027?"
    description = "Resolves Yes if major carriers suspend Suez Canal transits through the Red Sea."
    probability = 0.35
    movement = 0.01
    volume = 750_000.0
    liquidity = 50_000.0
    url = factory.LazyAttribute(lambda o: f"https://polymarket.com/event/market-{o.external_id}")
    observed_at = factory.Sequence(lambda n: datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n))


class FixedEventFactory(RawEventFactory):
    """One known market at one known moment: liquid, relevant, unremarkable. Its ids and scores
    are what the pipeline's tests compare, so its fields do not change from call to call."""

    external_id = "1001"
    event_id = "polymarket-1001"
    market_id = "0xabc"
    title = "Will Houthi attacks close the Red Sea to shipping by June?"
    description = "Container lines have rerouted vessels around the Cape of Good Hope."
    probability = 0.42
    volume = 250_000.0
    url = "https://polymarket.com/event/red-sea"
    observed_at = OBSERVED_AT
    resolution_date = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


class NewsEventFactory(FixedEventFactory):
    """A credible article an hour old. ``attributes={...}`` is merged into its domain and publication time."""

    source = "newsapi"
    external_id = "https://www.reuters.com/a"
    event_id = "newsapi-a"
    title = "Port strike halts container traffic at Rotterdam"
    description = "Dockworkers walked out on Monday."
    probability = 0.6
    probability_is_estimate = True
    liquidity = 0.0
    volume = 0.0
    movement = None

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        attributes = {"domain": "reuters.com", "published_at": OBSERVED_AT - timedelta(hours=1)}
        attributes.update(kwargs.get("attributes") or {})
        kwargs["attributes"] = attributes
        return kwargs


class ParseFailureFactory(factory.Factory):
    class Meta:
        model = ParseFailure

    source = "polymarket"
    external_id = factory.Sequence(lambda n: str(800000 + n))
    field = "outcomePrices"
    reason = "outcomePrices is not a JSON list of prices: 'oops'"
    excerpt = '{"id": "800000", "outcomePrices": "oops"}'


def history(probabilities, *, volumes=None, end=OBSERVED_AT) -> list[HistoryPoint]:
    """Points one hour apart, the last one an hour before ``end``."""
    n = len(probabilities)
    volumes = volumes or [100_000.0] * n
    return [
        HistoryPoint(observed_at=end - timedelta(hours=n - i), probability=p, volume=v)
        for i, (p, v) in enumerate(zip(probabilities, volumes, strict=True))
    ]


# --------------------------------------------------------------------------- signals' models


class SourceEventFactory(DjangoModelFactory):
    class Meta:
        model = SourceEvent
        django_get_or_create = ("source", "external_id")

    source = "polymarket"
    external_id = factory.Sequence(lambda n: str(900000 + n))
    title = "Will the Suez Canal close to container ships before March 2027?"
    url = factory.LazyAttribute(lambda o: f"https://polymarket.com/event/market-{o.external_id}")
    first_seen_at = datetime(2026, 11, 1, tzinfo=UTC)
    last_seen_at = factory.SelfAttribute("first_seen_at")
    last_probability = 0.35


def _accepted(event: RawEvent) -> Accepted:
    decision = evaluate(event)
    assert isinstance(decision, Accepted), f"the pipeline rejected the factory's event: {decision}"
    return decision


class SignalFactory(DjangoModelFactory):
    """A signal the pipeline accepted, saved with ``Signal.save`` (the ledger's post_save queues it).

    Override ``raw_event`` (a RawEvent) to change what it is about; the columns and the contract
    come from the pipeline's decision on it, so they agree.
    """

    class Meta:
        model = Signal

    class Params:
        raw_event = factory.SubFactory(RawEventFactory)
        decision = factory.LazyAttribute(lambda o: _accepted(o.raw_event))

    event = factory.SubFactory(
        SourceEventFactory,
        source=factory.SelfAttribute("..raw_event.source"),
        external_id=factory.SelfAttribute("..raw_event.external_id"),
        title=factory.SelfAttribute("..raw_event.title"),
        url=factory.SelfAttribute("..raw_event.url"),
        first_seen_at=factory.SelfAttribute("..raw_event.observed_at"),
        last_probability=factory.SelfAttribute("..raw_event.probability"),
    )
    signal_id = factory.SelfAttribute("decision.signal_id")
    source = factory.SelfAttribute("raw_event.source")
    source_event_id = factory.SelfAttribute("raw_event.event_id")
    input_event_hash = factory.SelfAttribute("decision.input_event_hash")
    trace_id = factory.SelfAttribute("decision.trace_id")
    ruleset_version = factory.LazyAttribute(lambda o: o.decision.signal["ruleset_version"])
    signal_type = factory.LazyAttribute(lambda o: o.decision.signal["signal_type"])
    status = factory.LazyAttribute(lambda o: o.decision.signal["status"])
    category = factory.LazyAttribute(lambda o: o.decision.signal["category"])
    confidence_level = factory.LazyAttribute(lambda o: o.decision.signal["confidence_level"])
    title = factory.LazyAttribute(lambda o: o.decision.signal["title"])
    probability = factory.LazyAttribute(lambda o: o.decision.signal["probability"])
    confidence = factory.LazyAttribute(lambda o: o.decision.signal["confidence_score"])
    observed_at = factory.SelfAttribute("raw_event.observed_at")
    generated_at = factory.SelfAttribute("raw_event.observed_at")
    created_at = factory.LazyFunction(timezone.now)
    contract = factory.SelfAttribute("decision.signal")


class ProbabilityPointFactory(DjangoModelFactory):
    class Meta:
        model = ProbabilityPoint

    source_event = factory.SubFactory(SourceEventFactory)
    observed_at = factory.Sequence(lambda n: datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n))
    probability = 0.35
    volume = 750_000.0
    liquidity = 50_000.0


class RejectionFactory(DjangoModelFactory):
    class Meta:
        model = Rejection

    source = "polymarket"
    external_id = factory.Sequence(lambda n: str(950000 + n))
    input_hash = factory.Sequence(lambda n: f"{n:064x}")
    stage = "validation"
    rule = "semantic_relevance"
    rule_version = "2.0.0"
    status = "REJECTED_IRRELEVANT_SEMANTIC"
    reason = "No risk terms in the question or description."
    score = 0.1
    excerpt = "{}"
    observed_at = datetime(2026, 11, 1, tzinfo=UTC)
    created_at = factory.LazyFunction(timezone.now)


class SourceRunFactory(DjangoModelFactory):
    class Meta:
        model = SourceRun

    source = "polymarket"
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=1))
    outcome = SourceRun.Outcome.OK


class SourceStateFactory(DjangoModelFactory):
    class Meta:
        model = SourceState
        django_get_or_create = ("source",)

    source = "polymarket"


# --------------------------------------------------------------------------- the ledger's models


class LedgerOutboxFactory(DjangoModelFactory):
    """A save waiting for its frame (rows that the receivers did not write: no signal behind it)."""

    class Meta:
        model = LedgerOutbox

    operation = Operation.CREATE
    signal_pk = factory.Sequence(lambda n: 10_000 + n)
    signal_id = factory.Sequence(lambda n: f"OMEN-{n:012X}")
    saved_at = factory.LazyFunction(timezone.now)


class LedgerPartitionFactory(DjangoModelFactory):
    class Meta:
        model = LedgerPartition
        django_get_or_create = ("name",)

    day = date(2026, 11, 20)
    name = factory.LazyAttribute(lambda o: o.day.isoformat())
    frames = 10
    bytes = 10_000
