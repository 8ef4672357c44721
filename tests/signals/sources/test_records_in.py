"""``records_in``: how many records a source's parser reads from a reply, counted without parsing
one; the ingest API refuses a request of more than it takes by it, before the parser runs."""

from datetime import UTC, datetime

import pytest

from signals.sources.registry import SOURCES
from tests.support.recorded import EVENTS, FORECAST, MARINE, MARKETS, NEWSAPI, NEWSDATA, recorded_json

NOW = datetime(2026, 12, 1, tzinfo=UTC)

REPLIES = [
    ("polymarket", lambda: recorded_json(MARKETS)),
    ("polymarket", lambda: recorded_json(EVENTS)),
    ("polymarket", lambda: [*recorded_json(EVENTS), *recorded_json(MARKETS)[:3], 1, None, {"markets": "x"}]),
    ("polymarket", lambda: recorded_json(EVENTS)[0]),  # one event object
    ("polymarket", lambda: [{"id": "e", "markets": []}, {"question": "q", "markets": [1, 2]}]),
    ("openmeteo", lambda: recorded_json(FORECAST)),
    ("openmeteo", lambda: [recorded_json(FORECAST), recorded_json(MARINE), 1]),
    ("newsapi", lambda: recorded_json(NEWSAPI)),
    ("newsdata", lambda: recorded_json(NEWSDATA)),
    ("yahoo", lambda: {"chart": {"result": [1, {}, None], "error": None}}),
]


@pytest.mark.parametrize(("source", "reply"), REPLIES)
def test_the_count_is_the_number_of_records_the_parser_reads(source, reply):
    payload = reply()
    assert SOURCES[source].records_in(payload) == len(SOURCES[source].parser(payload, fetched_at=NOW))


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("payload", [None, 1, "x", {"chart": 1}, {"articles": {}}, {"results": "x"}])
def test_a_reply_the_parser_refuses_whole_counts_no_records(source, payload):
    if source in {"openmeteo", "polymarket"} and isinstance(payload, dict):
        pytest.skip("any object is one record of these: an Open-Meteo location, a Polymarket event")
    assert SOURCES[source].records_in(payload) == 0
    with pytest.raises(ValueError):
        SOURCES[source].parser(payload, fetched_at=NOW)
