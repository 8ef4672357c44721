from datetime import datetime, timedelta
from math import exp, log

import pytest

from signals.pipeline import PipelineContext, RuleStatus, vocab
from signals.pipeline.ids import news_fingerprint
from signals.pipeline.rules import (
    RULES,
    anomaly_detection_rule,
    geographic_relevance_rule,
    liquidity_rule,
    news_quality_rule,
    semantic_relevance_rule,
)
from signals.pipeline.text import analyse
from tests.support.factories import OBSERVED_AT, FixedEventFactory, NewsEventFactory, history

CTX = PipelineContext()


def run(rule, event, ctx=CTX):
    return rule(event, analyse(event.title, event.description, event.keywords), ctx)


# ---------------------------------------------------------------- liquidity


def test_liquidity_exactly_at_minimum_passes_with_score_a_tenth():
    result = run(liquidity_rule, FixedEventFactory(liquidity=1000.0))
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.1)
    assert (result.rule_name, result.rule_version) == ("liquidity", "1.0.0")


def test_liquidity_just_below_minimum_is_rejected_with_score_liquidity_over_minimum():
    result = run(liquidity_rule, FixedEventFactory(liquidity=999.0))
    assert (result.status, result.score) == (RuleStatus.REJECTED_LOW_LIQUIDITY, 0.999)
    assert "$999.00" in result.reasoning


def test_liquidity_score_caps_at_one_from_ten_times_minimum():
    assert run(liquidity_rule, FixedEventFactory(liquidity=10_000.0)).score == 1.0
    assert run(liquidity_rule, FixedEventFactory(liquidity=5_000.0)).score == 0.5


def test_liquidity_minimum_comes_from_the_context():
    result = run(liquidity_rule, FixedEventFactory(liquidity=1500.0), PipelineContext(min_liquidity=2000.0))
    assert result.status is RuleStatus.REJECTED_LOW_LIQUIDITY and result.score == 0.75


# ---------------------------------------------------------------- semantic


def test_semantic_one_risk_term_in_the_question_passes_exactly_at_threshold():
    result = run(semantic_relevance_rule, FixedEventFactory(title="Will tariffs generate $250b?", description=""))
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.3)
    assert result.rule_version == "3.0.0"


def test_semantic_single_description_only_term_weighs_half_and_fails():
    result = run(
        semantic_relevance_rule,
        FixedEventFactory(title="Will the U.S. collect $100b?", description="It collected $82b in tariffs."),
    )
    assert (result.status, result.score) == (RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, 0.15)
    assert "boilerplate alone never passes" in result.reasoning
    assert result.parameters["description_only_terms"] == ["tariff"]


def test_semantic_description_terms_in_two_categories_reach_threshold():
    result = run(
        semantic_relevance_rule, FixedEventFactory(title="Will it happen?", description="Tariffs and an oil embargo.")
    )
    # regulatory (tariff, embargo) + energy (oil): 0.2 x 1.0 + 0.1 x 1.5 = 0.35
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.35)


def test_semantic_agency_name_in_description_is_not_a_customs_match():
    event = FixedEventFactory(
        title="Will Trump deport less than 250,000?",
        description='This market will resolve to "Yes" if U.S. Immigration and Customs Enforcement '
        "(ICE) removes less than 250,000 non citizens.",
    )
    result = run(semantic_relevance_rule, event)
    # "Customs" inside the agency's name counts for nothing; the deportation itself is policy
    # risk of the United States (Trump names it), so the question is relevant on its own.
    assert "regulatory" not in result.parameters["categories"]
    assert result.parameters["categories"] == {"political": ["deport"]}
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.3)


def test_semantic_sports_question_is_rejected_with_score_zero():
    result = run(semantic_relevance_rule, FixedEventFactory(title="Will the Carolina Hurricanes win the Stanley Cup?"))
    assert (result.status, result.score) == (RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, 0.0)
    assert "carolina hurricanes" in result.reasoning


def test_semantic_europe_is_not_blocked_as_euro():
    result = run(semantic_relevance_rule, FixedEventFactory(title="Will Europe impose tariffs on Chinese EVs?"))
    assert result.status is RuleStatus.PASSED


def test_semantic_score_caps_at_one():
    event = FixedEventFactory(title="War, oil embargo, port strike, hurricane and tariffs at Hormuz")
    assert run(semantic_relevance_rule, event).score == 1.0


# ---------------------------------------------------------------- geographic


def test_geographic_one_chokepoint_in_question_scores_point_seven():
    result = run(geographic_relevance_rule, FixedEventFactory(title="Will Iran close Hormuz?", description=""))
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.7)
    assert result.rule_version == "4.0.0"


def test_geographic_two_chokepoints_cap_at_one():
    result = run(geographic_relevance_rule, FixedEventFactory(title="Suez and Red Sea traffic?", description=""))
    assert result.score == 1.0


def test_geographic_location_within_500_km_counts_for_the_chokepoint():
    result = run(geographic_relevance_rule, FixedEventFactory(title="Will China invade Taiwan?", description=""))
    assert result.status is RuleStatus.PASSED
    assert result.parameters["chokepoints"] == {"Taiwan Strait": 1.0}
    assert "km from Taiwan Strait" in result.reasoning


def test_geographic_single_logistics_term_scores_point_three():
    result = run(geographic_relevance_rule, FixedEventFactory(title="Will tariffs rise?", description=""))
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.3)


def test_geographic_buckets_and_route_geopolitical_bonus():
    two = FixedEventFactory(title="Will tariffs cut exports?", description="")
    four = FixedEventFactory(title="Tariffs cut exports, imports and freight?", description="")
    six = FixedEventFactory(title="Tariffs cut exports, imports, freight, cargo and LNG?", description="")
    bonus = FixedEventFactory(title="Will a war block the canal?", description="")
    assert run(geographic_relevance_rule, two).score == 0.5
    assert run(geographic_relevance_rule, four).score == 0.7
    assert run(geographic_relevance_rule, six).score == 0.9
    assert run(geographic_relevance_rule, bonus).score == 0.7  # 2 terms 0.5 + routes 0.1 + geopolitical 0.1


def test_geographic_single_description_only_logistics_term_is_rejected():
    result = run(geographic_relevance_rule, FixedEventFactory(title="Will it happen?", description="Freight is calm."))
    assert (result.status, result.score) == (RuleStatus.REJECTED_IRRELEVANT_GEOGRAPHY, 0.1)
    assert "description-only" in result.reasoning


def test_geographic_without_any_term_is_rejected():
    result = run(
        geographic_relevance_rule, FixedEventFactory(title="Will Rob Jetten be Prime Minister?", description="")
    )
    assert (result.status, result.score) == (RuleStatus.REJECTED_IRRELEVANT_GEOGRAPHY, 0.1)


# ---------------------------------------------------------------- anomaly


def test_anomaly_probability_exactly_at_bounds_is_not_flagged():
    assert run(anomaly_detection_rule, FixedEventFactory(probability=0.05, movement=None)).score == 1.0
    assert run(anomaly_detection_rule, FixedEventFactory(probability=0.95, movement=None)).score == 1.0


def test_anomaly_probability_just_outside_bounds_adds_point_three_and_passes():
    result = run(anomaly_detection_rule, FixedEventFactory(probability=0.0499, movement=None))
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.7)


def test_anomaly_large_move_and_extreme_price_reject_as_manipulation():
    result = run(anomaly_detection_rule, FixedEventFactory(probability=0.97, movement=0.51))
    assert (result.status, result.score) == (RuleStatus.REJECTED_MANIPULATION_SUSPECTED, 0.3)
    assert "0.5" in result.reasoning


def test_anomaly_move_of_exactly_half_is_not_flagged():
    assert run(anomaly_detection_rule, FixedEventFactory(probability=0.5, movement=0.5)).score == 1.0


def test_anomaly_risk_just_below_half_passes():
    past = history([0.01] * 10, volumes=[1000.0, 1100.0] * 5)  # flat price: no price z-scores
    event = FixedEventFactory(probability=0.01, movement=0.0, volume=50_000.0)  # +0.3 extreme, +0.15 volume
    result = run(anomaly_detection_rule, event, PipelineContext(history={event.market_key: past}))
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.55)
    assert result.parameters["risk"] == 0.45


def test_anomaly_z_scores_need_ten_points_of_this_market():
    past = history([0.40, 0.41] * 4 + [0.40])  # nine points
    event = FixedEventFactory(probability=0.99, movement=0.0)
    assert run(anomaly_detection_rule, event, PipelineContext(history={event.market_key: past})).passed
    other = PipelineContext(history={"polymarket:other": history([0.40, 0.41] * 5)})
    assert run(anomaly_detection_rule, event, other).passed


def test_anomaly_ignores_history_points_at_or_after_the_observation():
    past = history([0.40, 0.41] * 5, end=OBSERVED_AT + timedelta(hours=11))
    event = FixedEventFactory(probability=0.99, movement=0.0)
    result = run(anomaly_detection_rule, event, PipelineContext(history={event.market_key: past}))
    assert result.passed and result.parameters["history_points"] == 0


def test_anomaly_volume_spike_and_change_rate_add_fifteen_hundredths_each():
    past = history([0.50, 0.51] * 5, volumes=[1000.0, 1100.0] * 5)
    event = FixedEventFactory(probability=0.57, movement=None, volume=50_000.0)
    result = run(anomaly_detection_rule, event, PipelineContext(history={event.market_key: past}))
    # z(prob) = 6.5 -> +0.2, change-rate z > 2.5 -> +0.15, volume z -> +0.15
    assert result.parameters["risk"] == 0.5
    assert result.status is RuleStatus.REJECTED_MANIPULATION_SUSPECTED


def test_anomaly_few_traders_with_big_volume_flags_and_none_skips():
    thin = FixedEventFactory(probability=0.02, movement=None, trader_count=9, volume=10_001.0)
    ok = FixedEventFactory(probability=0.02, movement=None, trader_count=10, volume=10_001.0)
    unknown = FixedEventFactory(probability=0.02, movement=None, trader_count=None, volume=10_001.0)
    assert run(anomaly_detection_rule, thin).status is RuleStatus.REJECTED_MANIPULATION_SUSPECTED
    assert run(anomaly_detection_rule, ok).passed
    result = run(anomaly_detection_rule, unknown)
    assert result.passed and "skipped" in result.parameters["trader_check"]


# ---------------------------------------------------------------- news quality


def test_news_quality_wire_service_fresh_article_scores_point_nine_seven():
    result = run(news_quality_rule, NewsEventFactory())
    assert (result.status, result.score) == (RuleStatus.PASSED, 0.97)  # 0.6 x 0.95 + 0.4 x 1.0


def test_news_recency_is_full_at_two_hours_then_halves_every_six():
    at_two = NewsEventFactory(attributes={"published_at": OBSERVED_AT - timedelta(hours=2)})
    at_eight = NewsEventFactory(attributes={"published_at": OBSERVED_AT - timedelta(hours=8)})
    assert run(news_quality_rule, at_two).parameters["recency"] == 1.0
    assert run(news_quality_rule, at_eight).parameters["recency"] == round(exp(-log(2) * 8 / 6), 4)


def test_news_older_than_72_hours_is_rejected_for_recency():
    old = NewsEventFactory(attributes={"published_at": OBSERVED_AT - timedelta(hours=72, seconds=1)})
    result = run(news_quality_rule, old)
    assert result.status is RuleStatus.REJECTED_RULE and "recency" in result.reasoning


def test_news_recency_is_measured_from_observed_at_not_the_clock():
    article = NewsEventFactory(
        attributes={"published_at": datetime(2020, 1, 1, 11, tzinfo=OBSERVED_AT.tzinfo)},
        observed_at=datetime(2020, 1, 1, 12, tzinfo=OBSERVED_AT.tzinfo),
    )
    assert run(news_quality_rule, article).passed


def test_news_duplicate_fingerprint_is_rejected():
    article = NewsEventFactory(title="Port strike halts container traffic at Rotterdam")
    seen = {news_fingerprint("PORT STRIKE halts container traffic at Rotterdam!", "www.reuters.com")}
    result = run(news_quality_rule, article, PipelineContext(seen_news_fingerprints=seen))
    assert (result.status, result.score) == (RuleStatus.REJECTED_RULE, 0.0)
    assert "Duplicate" in result.reasoning


def test_news_domain_tiers(monkeypatch):
    def score(domain):
        return run(news_quality_rule, NewsEventFactory(attributes={"domain": domain})).parameters["credibility"]

    assert score("www.reuters.com") == 0.95
    assert score("uk.reuters.com") == 0.95
    assert score("ft.com") == 0.90
    assert score("lloydslist.com") == 0.80
    assert score("bbc.co.uk") == 0.60
    assert score("someblog.example") == 0.30
    monkeypatch.setattr(vocab, "NEWS_DEFAULT_CREDIBILITY", 0.29)
    result = run(news_quality_rule, NewsEventFactory(attributes={"domain": "someblog.example"}))
    assert result.status is RuleStatus.REJECTED_RULE and "credibility" in result.reasoning


# ---------------------------------------------------------------- order


def test_rule_order_and_versions():
    assert [(r.name, r.version) for r in RULES] == [
        ("market_status", "1.0.0"),
        ("liquidity", "1.0.0"),
        ("semantic_relevance", "3.0.0"),
        ("geographic_relevance", "4.0.0"),
        ("anomaly_detection", "2.0.0"),
        ("news_quality", "1.0.0"),
    ]


def test_liquidity_is_skipped_for_estimates_and_news_quality_runs_only_for_news():
    by_name = {r.name: r for r in RULES}
    assert not by_name["liquidity"].applies(NewsEventFactory())
    assert by_name["liquidity"].applies(FixedEventFactory())
    assert by_name["news_quality"].applies(NewsEventFactory())
    assert not by_name["news_quality"].applies(FixedEventFactory())


@pytest.mark.parametrize("rule", [r.run for r in RULES])
def test_every_rule_rounds_its_score_to_four_decimals(rule):
    result = run(rule, NewsEventFactory(attributes={"published_at": OBSERVED_AT - timedelta(hours=7)}))
    assert result.score == round(result.score, 4)
