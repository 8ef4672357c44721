"""manage.py ingest_file: the offline way to load a saved reply."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from signals.models import Rejection, Signal

pytestmark = pytest.mark.django_db

RECORDED = "polymarket_gamma_markets_active_part1.json"


def ingest(path, **kwargs):
    out = StringIO()
    call_command("ingest_file", str(path), "--source=polymarket", stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


def test_recorded_reply_twice_creates_signals_once(recorded_dir):
    first = ingest(recorded_dir / RECORDED)
    signals_after_first = Signal.objects.count()
    assert not Signal.objects.filter(pushed=True).exists()  # polled data, not a partner's

    second = ingest(recorded_dir / RECORDED)

    assert f"250 records -> {signals_after_first} new signals, 0 unchanged" in first
    assert "-> 0 new signals" in second
    assert Signal.objects.count() == signals_after_first
    assert signals_after_first + Rejection.objects.count() == 250


def test_truncated_json_is_a_command_error_naming_the_position(recorded_dir, tmp_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes((recorded_dir / RECORDED).read_bytes()[:5000])

    with pytest.raises(CommandError, match=r"truncated.json is not valid JSON: .* at line \d+ column \d+"):
        ingest(truncated)
    assert Signal.objects.count() == Rejection.objects.count() == 0


def test_reply_of_the_wrong_shape_is_a_command_error(tmp_path):
    path = tmp_path / "scalar.json"
    path.write_text('"just a string"')

    with pytest.raises(CommandError, match="not a Polymarket reply: it is a JSON string; expected a JSON array"):
        ingest(path)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("newsapi", "not a NewsAPI reply: the key 'status' is missing"),
        ("newsdata", "not a NewsData reply: the key 'status' is missing"),
        ("yahoo", "not a Yahoo chart reply: the key 'chart' is missing"),
    ],
)
def test_an_empty_object_says_which_source_was_expected_and_which_key_is_missing(tmp_path, source, words):
    """The fault probe's `ingest_file {} --source newsapi` said "status None, code None: None"."""
    path = tmp_path / "empty.json"
    path.write_text("{}")

    with pytest.raises(CommandError) as failed:
        ingest(path, source=source)

    assert words in str(failed.value) and str(failed.value).endswith("It begins: {}")
    assert "None" not in str(failed.value)


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        ingest(tmp_path / "nope.json")


@pytest.mark.parametrize("size", ["0", "-1", "100001", "99999999999999999999"])
def test_a_batch_size_out_of_range_is_refused_naming_the_argument(recorded_dir, size):
    """The fault probe's `--batch-size 99999999999999999999` ended in islice()'s traceback."""
    with pytest.raises(CommandError, match=r"argument --batch-size: .* from 1 to 100,000"):
        call_command("ingest_file", str(recorded_dir / RECORDED), "--source=polymarket", f"--batch-size={size}")
    assert Signal.objects.count() == Rejection.objects.count() == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00", "1969-12-31T23:59:59+00:00", "9999-12-31T23:59:59"])
def test_a_fetch_time_outside_the_years_the_parsers_accept_is_refused_naming_the_argument(recorded_dir, moment):
    """The fault probe's `--fetched-at 0001-01-01T00:00:00`: a market without updatedAt is observed at its
    fetch time, and the history window before it ended in OverflowError's traceback."""
    with pytest.raises(CommandError, match=r"argument --fetched-at: .* between the years 1970 and 2200"):
        call_command("ingest_file", str(recorded_dir / RECORDED), "--source=polymarket", f"--fetched-at={moment}")
    assert Signal.objects.count() == Rejection.objects.count() == 0


def market(**overrides):
    record = {
        "id": "990001",
        "question": "Will Houthi attacks close the Red Sea shipping route in 2027?",
        "description": "Resolves Yes if carriers suspend Suez Canal transits.",
        "slug": "red-sea-route",
        "outcomes": '["Yes", "No"]',
        "outcomePrices": '["0.3", "0.7"]',
        "liquidity": "50000",
        "liquidityNum": 50000.0,
        "volume": "800000",
        "volumeNum": 800000.0,
        "updatedAt": "2026-11-01T10:00:00Z",
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"outcomePrices": "0.3, 0.7"}, "outcomePrices"),
        ({"outcomePrices": '["0.3", '}, "outcomePrices"),
        ({"outcomePrices": '["1.7", "0.7"]'}, "outcomePrices"),
        ({"liquidityNum": -10.0, "liquidity": "-10"}, "liquidity"),
        ({"question": "Red Sea " * 1_400_000}, "question"),
        ({"question": 12345}, "question"),
        ({"id": {"nested": True}}, "id"),
        ({"volumeNum": "lots", "volume": "lots"}, "volume"),
        ({"description": ["not", "text"]}, "description"),
    ],
    ids=[
        "prices-not-a-list",
        "prices-truncated",
        "price-above-one",
        "negative-liquidity",
        "10MB-title",
        "title-wrong-type",
        "id-wrong-type",
        "volume-not-a-number",
        "description-wrong-type",
    ],
)
def test_bad_record_becomes_a_rejection_naming_the_field_and_the_rest_is_ingested(tmp_path, overrides, field):
    path = tmp_path / "reply.json"
    good = market(id="990002", question="Will a strike close US East Coast ports in 2027?")
    path.write_text(json.dumps([market(**overrides), good]))

    output = ingest(path)

    assert "2 records -> 1 new signals" in output
    rejection = Rejection.objects.get()
    assert rejection.stage == "parse"
    # "liquidity" may be named by its float twin "liquidityNum": the field that was read.
    assert rejection.field.startswith(field)
    assert rejection.field in rejection.reason
    assert len(rejection.excerpt) <= 2000
    assert Signal.objects.get().event.external_id == "990002"
