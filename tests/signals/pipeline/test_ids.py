import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from hashlib import sha256

import orjson

from signals.pipeline.ids import RULESET_VERSION, input_event_hash, signal_id, trace_id
from signals.pipeline.text import DEFAULT_VOCABULARY, Vocabulary
from tests.support.factories import FixedEventFactory
from tests.support.recorded import ROOT


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
    assert trace_id(h, RULESET_VERSION) == expected
    assert trace_id(h, "other") != expected


def test_signal_id_is_omen_prefix_and_first_12_hex_upper():
    assert signal_id("0123456789abcdef") == "OMEN-0123456789AB"


def test_ruleset_version_is_the_single_documented_value():
    assert RULESET_VERSION == "2026.12.0"


def test_signals_record_the_release_and_a_short_hash_of_the_vocabulary():
    version = DEFAULT_VOCABULARY.ruleset_version
    release, _, digest = version.partition("+")
    assert release == RULESET_VERSION
    assert re.fullmatch(r"[0-9a-f]{8}", digest)
    # Compiled twice, the same vocabulary has the same hash (a replay stays byte-identical).
    assert Vocabulary().ruleset_version == version


# Source-provided tags as a parser hands them over (sorted); enough of them that any order taken
# from a set, which changes with the process's hash seed, is all but sure to differ between seeds.
KEYWORDS = tuple(
    sorted(("shipping", "red sea", "houthi", "suez canal", "container lines", "insurance", "freight", "yemen", "world"))
)


def keyword_ids_digest() -> str:
    """One hash over the ids and the stored signal of events that carry source keywords."""
    from signals.pipeline import Accepted, evaluate

    digest = sha256()
    for n in range(len(KEYWORDS)):
        # Nine keywords, then eight, ... down to one.
        event = FixedEventFactory(external_id=f"k{n}", event_id=f"polymarket-k{n}", keywords=KEYWORDS[n:])
        input_hash = input_event_hash(event)
        trace = trace_id(input_hash, DEFAULT_VOCABULARY.ruleset_version)
        digest.update(f"{input_hash}|{trace}|{signal_id(trace)}".encode())
        decision = evaluate(event)
        assert isinstance(decision, Accepted), decision
        digest.update(orjson.dumps(decision.signal, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def test_ids_of_events_with_keywords_are_the_same_under_every_hash_seed():
    """Keywords are hashed in sorted order: a set's order would change the ids from process to process."""
    here = keyword_ids_digest()
    script = (
        "import django\n"
        "django.setup()\n"
        "from tests.signals.pipeline.test_ids import keyword_ids_digest\n"
        "print(keyword_ids_digest())\n"
    )
    for seed in ("0", "1", "2", "3"):
        child = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "DJANGO_SETTINGS_MODULE": "omen_site.settings"},
        )
        assert child.returncode == 0, child.stderr[-2000:]
        assert child.stdout.strip() == here, f"PYTHONHASHSEED={seed} gave other ids than this process"
