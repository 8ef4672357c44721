from dataclasses import replace
from datetime import timedelta
from hashlib import sha256

from signals.pipeline.ids import RULESET_VERSION, input_event_hash, signal_id, trace_id
from tests.support.factories import FixedEventFactory


def test_input_event_hash_is_full_sha256_of_pipe_joined_content_fields():
    event = FixedEventFactory(keywords=("b-tag", "a-tag"), movement=-0.0125, volume=1234.567, liquidity=89.1)
    content = "|".join(
        [
            "polymarket-1001",
            event.title,
            event.description,
            "0.4200000000",
            "-0.0125000000",
            "a-tag,b-tag",
            "polymarket",
            "0xabc",
            "1234.57",
            "89.10",
        ]
    )
    assert input_event_hash(event) == sha256(content.encode()).hexdigest()
    assert len(input_event_hash(event)) == 64


def test_input_event_hash_uses_empty_string_for_missing_movement():
    event = FixedEventFactory(movement=None)
    content = "|".join(
        [
            "polymarket-1001",
            event.title,
            event.description,
            "0.4200000000",
            "",
            "",
            "polymarket",
            "0xabc",
            "250000.00",
            "50000.00",
        ]
    )
    assert input_event_hash(event) == sha256(content.encode()).hexdigest()


def test_input_event_hash_excludes_observed_at():
    event = FixedEventFactory()
    later = replace(event, observed_at=event.observed_at + timedelta(days=3))
    assert input_event_hash(event) == input_event_hash(later)


def test_input_event_hash_changes_when_price_changes():
    event = FixedEventFactory()
    assert input_event_hash(event) != input_event_hash(replace(event, probability=0.4201))


def test_trace_id_is_sha256_of_hash_ruleset_and_outcome_first_16_hex():
    h = "ab" * 32
    expected = sha256(f"{h}|{RULESET_VERSION}|validated".encode()).hexdigest()[:16]
    assert trace_id(h) == expected
    assert trace_id(h, "other") != expected


def test_signal_id_is_omen_prefix_and_first_12_hex_upper():
    assert signal_id("0123456789abcdef") == "OMEN-0123456789AB"


def test_ruleset_version_is_the_single_documented_value():
    assert RULESET_VERSION == "2026.11.0"
