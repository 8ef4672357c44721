import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from hashlib import sha256

import orjson

from signals.pipeline import (
    RULESET_VERSION,
    Accepted,
    PipelineContext,
    Rejected,
    RuleStatus,
    SignalType,
    engine,
    evaluate,
)
from signals.pipeline.ids import input_event_hash, signal_id, trace_id
from signals.pipeline.rules import RULES, Rule
from signals.pipeline.text import DEFAULT_VOCABULARY
from tests.support.factories import FixedEventFactory, NewsEventFactory, history
from tests.support.recorded import ROOT, recorded_markets

CONTRACT_FIELDS = {
    "signal_id",
    "source_event_id",
    "input_event_hash",
    "trace_id",
    "ruleset_version",
    "signal_type",
    "status",
    "category",
    "probability",
    "probability_source",
    "probability_is_estimate",
    "confidence_score",
    "confidence_level",
    "confidence_factors",
    "confidence_interval",
    "title",
    "description",
    "tags",
    "keywords_matched",
    "impact_hints",
    "geographic",
    "temporal",
    "evidence",
    "validation_scores",
    "explanation",
    "observed_at",
    "generated_at",
    "source_url",
}


def decisions_digest(events) -> str:
    """One hash over every decision and signal, as stored (sorted-key JSON)."""
    digest = sha256()
    for event in events:
        decision = evaluate(event, PipelineContext())
        if isinstance(decision, Accepted):
            digest.update(orjson.dumps(decision.signal, option=orjson.OPT_SORT_KEYS))
        else:
            digest.update(repr(decision).encode())
    return digest.hexdigest()


def test_accepted_signal_carries_the_full_contract_and_ids():
    event = FixedEventFactory()
    decision = evaluate(event)
    assert isinstance(decision, Accepted)
    signal = decision.signal
    assert set(signal) == CONTRACT_FIELDS
    h = input_event_hash(event)
    assert signal["input_event_hash"] == decision.input_event_hash == h
    version = DEFAULT_VOCABULARY.ruleset_version
    assert signal["trace_id"] == decision.trace_id == trace_id(h, version)
    assert signal["signal_id"] == decision.signal_id == signal_id(trace_id(h, version))
    assert signal["ruleset_version"] == version
    assert version.startswith(RULESET_VERSION + "+")
    assert signal["source_event_id"] == "polymarket-1001"
    assert signal["signal_type"] == SignalType.SHIPPING_ROUTE_RISK
    assert signal["geographic"]["chokepoints"] == ["Red Sea"]
    assert signal["observed_at"] == signal["generated_at"] == "2026-02-07T20:00:00Z"
    assert signal["temporal"] == {
        "event_horizon": "long_term",
        "resolution_date": "2026-06-30T12:00:00Z",
        "signal_freshness": "current",
    }
    assert [s["rule"] for s in signal["explanation"]] == [
        "liquidity",
        "semantic_relevance",
        "geographic_relevance",
        "anomaly_detection",
    ]
    assert signal["tags"] == signal["keywords_matched"][:10]
    assert decision.news_fingerprint is None


def test_signal_has_no_severity_delay_cost_or_verdict_fields():
    text = orjson.dumps(evaluate(FixedEventFactory()).signal).decode()
    for banned in ("severity", "delay", "cost", "risk_verdict", "verdict"):
        assert f'"{banned}' not in text


def test_long_title_and_description_are_truncated():
    signal = evaluate(FixedEventFactory(title="Red Sea shipping " + "x" * 600, description="y" * 6000)).signal
    assert len(signal["title"]) == 500 and len(signal["description"]) == 5000


def test_rejection_names_stage_rule_status_and_value():
    decision = evaluate(FixedEventFactory(liquidity=512.74))
    assert isinstance(decision, Rejected)
    assert (decision.stage, decision.rule, decision.rule_version, decision.status) == (
        "validation",
        "liquidity",
        "1.0.0",
        RuleStatus.REJECTED_LOW_LIQUIDITY,
    )
    assert "$512.74" in decision.reason and decision.score == 0.5127
    assert decision.input_event_hash == input_event_hash(FixedEventFactory(liquidity=512.74))


def test_evaluation_stops_at_the_first_rejection():
    decision = evaluate(FixedEventFactory(liquidity=10.0, title="Will the Lakers win the NBA Finals?"))
    assert decision.rule == "liquidity"


def test_rule_that_raises_rejects_only_that_event(monkeypatch):
    def boom(event, analysis, ctx):
        if event.external_id == "bad":
            raise ZeroDivisionError("division by zero")
        return RULES[2].run(event, analysis, ctx)

    rules = RULES[:2] + (Rule("geographic_relevance", "3.0.0", RULES[2].applies, boom),) + RULES[3:]
    monkeypatch.setattr(engine, "RULES", rules)
    bad = evaluate(FixedEventFactory(external_id="bad"))
    assert isinstance(bad, Rejected)
    assert (bad.status, bad.rule, bad.score) == (RuleStatus.REJECTED_RULE_ERROR, "geographic_relevance", 0.0)
    assert "ZeroDivisionError" in bad.reason
    assert isinstance(evaluate(FixedEventFactory()), Accepted)


def test_malformed_history_is_a_rule_error_not_a_crash():
    event = FixedEventFactory()
    naive = [replace(p, observed_at=p.observed_at.replace(tzinfo=None)) for p in history([0.4] * 3)]
    decision = evaluate(event, PipelineContext(history={event.market_key: naive}))
    assert (decision.rule, decision.status) == ("anomaly_detection", RuleStatus.REJECTED_RULE_ERROR)


def test_below_minimum_confidence_is_rejected_at_generation():
    decision = evaluate(FixedEventFactory(), PipelineContext(min_confidence=0.99))
    assert isinstance(decision, Rejected)
    assert (decision.stage, decision.rule, decision.status) == ("generation", "min_confidence", "REJECTED_RULE")
    assert "below the minimum 0.99" in decision.reason


def test_source_reliability_comes_from_the_context():
    low = evaluate(FixedEventFactory(), PipelineContext(source_reliability={"polymarket": 0.5})).signal
    default = evaluate(FixedEventFactory()).signal
    assert low["confidence_factors"]["source_reliability"] == 0.5
    assert default["confidence_factors"]["source_reliability"] == 0.85
    assert low["confidence_score"] < default["confidence_score"]


def test_news_event_skips_liquidity_runs_news_quality_and_returns_fingerprint():
    decision = evaluate(NewsEventFactory())
    assert isinstance(decision, Accepted)
    steps = [s["rule"] for s in decision.signal["explanation"]]
    assert steps == ["semantic_relevance", "geographic_relevance", "anomaly_detection", "news_quality"]
    assert "liquidity" not in decision.signal["confidence_factors"]
    assert decision.news_fingerprint and len(decision.news_fingerprint) == 64
    assert decision.signal["temporal"]["signal_freshness"] == "fresh"
    again = evaluate(NewsEventFactory(), PipelineContext(seen_news_fingerprints={decision.news_fingerprint}))
    assert isinstance(again, Rejected) and again.rule == "news_quality"


def test_same_event_gives_byte_identical_signal():
    a = orjson.dumps(evaluate(FixedEventFactory()).signal, option=orjson.OPT_SORT_KEYS)
    b = orjson.dumps(evaluate(FixedEventFactory()).signal, option=orjson.OPT_SORT_KEYS)
    assert a == b


def test_recorded_markets_give_identical_decisions_twice_and_across_hash_seeds():
    events = [e for e in recorded_markets() if not hasattr(e, "reason")]
    assert len(events) == 250
    first = decisions_digest(events)
    assert decisions_digest(events) == first
    script = (
        "import django\n"
        "django.setup()\n"
        "from tests.support.recorded import recorded_markets\n"
        "from tests.signals.pipeline.test_engine import decisions_digest\n"
        "print(decisions_digest(recorded_markets()))\n"
    )
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "DJANGO_SETTINGS_MODULE": "omen_site.settings"},
        )
        assert out.stdout.strip() == first, out.stderr


def test_recorded_markets_no_sports_accepted_and_elections_are_political_risk():
    decisions = [(e, evaluate(e)) for e in recorded_markets()]
    accepted = {e.external_id: (e.title, d.signal["signal_type"]) for e, d in decisions if isinstance(d, Accepted)}
    sports = ("NBA", "NHL", "FIFA", "Super Bowl", "Stanley Cup", "World Cup")
    assert not [t for t, _type in accepted.values() if any(s in t for s in sports)]
    # The ICE markets ended with fiscal 2025 (their end date is past): never live, however
    # relevant; "collect ... revenue" names customs duties in its description only.
    for e, d in decisions:
        if "deport" in e.title.lower():
            assert d.status == RuleStatus.REJECTED_MARKET_CLOSED, e.title
        elif "collect" in e.title.lower():
            assert d.status == RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, e.title
    # National elections and leaders of major economies are political risk, never conflict;
    # a party's nomination race is not.
    elections = {i: t for i, (t, kind) in accepted.items() if "Prime Minister" in t or "Election" in t or " out" in t}
    assert len(elections) == 17
    assert {accepted[i][1] for i in elections} == {"POLITICAL_POLICY"}
    assert not [t for t, _type in accepted.values() if "nomination" in t]
    assert {i: accepted[i] for i in accepted.keys() - elections} == {
        "537490": ("Will tariffs generate >$250b in 2025?", "REGULATORY_CHANGE"),
        "540816": ("Russia-Ukraine Ceasefire before GTA VI?", "GEOPOLITICAL_DIPLOMATIC"),
        "540843": ("Will China invades Taiwan before GTA VI?", "GEOPOLITICAL_CONFLICT"),
    }
    counts = Counter(d.status if isinstance(d, Rejected) else "ACCEPTED" for _e, d in decisions)
    assert counts == Counter(
        {"REJECTED_IRRELEVANT_SEMANTIC": 203, "REJECTED_MARKET_CLOSED": 26, "REJECTED_LOW_LIQUIDITY": 1, "ACCEPTED": 20}
    )


def test_pipeline_imports_nothing_from_django():
    code = (
        "import sys, signals.pipeline, signals.sources\n"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
