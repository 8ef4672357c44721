"""factory-boy factories shared by the suite."""

from datetime import UTC, datetime, timedelta

import factory

from signals.pipeline.events import ParseFailure, RawEvent


class RawEventFactory(factory.Factory):
    """A Polymarket observation the pipeline accepts (Red Sea shipping, ample liquidity)."""

    class Meta:
        model = RawEvent

    class Params:
        market = factory.Sequence(lambda n: str(700000 + n))

    source = "polymarket"
    external_id = factory.SelfAttribute("market")
    event_id = factory.LazyAttribute(lambda o: f"polymarket-{o.market}")
    market_id = factory.SelfAttribute("market")
    title = "Will Houthi attacks close the Red Sea shipping route to container ships in 2027?"
    description = "Resolves Yes if major carriers suspend Suez Canal transits through the Red Sea."
    probability = 0.35
    movement = 0.01
    volume = 750_000.0
    liquidity = 50_000.0
    url = factory.LazyAttribute(lambda o: f"https://polymarket.com/event/market-{o.market}")
    observed_at = factory.Sequence(lambda n: datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n))


class ParseFailureFactory(factory.Factory):
    class Meta:
        model = ParseFailure

    source = "polymarket"
    external_id = factory.Sequence(lambda n: str(800000 + n))
    field = "outcomePrices"
    reason = "outcomePrices is not a JSON list of prices: 'oops'"
    excerpt = '{"id": "800000", "outcomePrices": "oops"}'
