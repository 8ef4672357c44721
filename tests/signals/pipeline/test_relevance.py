"""Relevance an analyst would defend (issue 10, point 4): the labelled set's floor, and each rule
change on questions shaped like the real ones that were decided wrong."""

from datetime import UTC, datetime

import pytest

from signals.pipeline import Accepted, RawEvent, evaluate
from signals.pipeline.context import PipelineContext
from signals.pipeline.relevance import relevance_verdict
from signals.pipeline.text import BLOCK, WATCH, OperatorTerm, Vocabulary
from tests.support.relevance_set import labels, score


def market(title: str, description: str = "") -> RawEvent:
    return RawEvent(
        source="polymarket",
        external_id="900001",
        event_id="polymarket-900001",
        title=title,
        description=description,
        probability=0.4,
        observed_at=datetime(2026, 3, 1, tzinfo=UTC),
        liquidity=80_000.0,
        volume=400_000.0,
    )


def article(title: str, description: str = "") -> RawEvent:
    return RawEvent(
        source="newsapi",
        external_id="a1",
        event_id="newsapi-a1",
        title=title,
        description=description,
        probability=0.5,
        probability_is_estimate=True,
        observed_at=datetime(2026, 3, 1, tzinfo=UTC),
        attributes={"domain": "reuters.com", "published_at": datetime(2026, 3, 1, tzinfo=UTC)},
    )


def test_the_labelled_set_has_every_recorded_record_once():
    rows = labels()
    assert len(rows) == 312
    assert len({(r.source, r.external_id) for r in rows}) == len(rows)
    assert sum(r.relevant for r in rows) == 41


def test_precision_and_recall_on_the_labelled_set_hold_their_floor():
    result = score(relevance_verdict)

    assert result.precision >= 0.90, [d.label.title for d in result.disagreements if d.predicted]
    assert result.recall >= 0.80, [d.label.title for d in result.disagreements if not d.predicted]


@pytest.mark.parametrize(
    ("title", "description"),
    [
        (
            "Which party will win the House in 2026?",
            "Resolves to the party that controls the U.S. House after the midterm elections.",
        ),
        ("Republicans win the Presidency, Senate and House in 2028?", "Control of the US presidency and Congress."),
        ("Will Rob Jetten become the next Prime Minister of the Netherlands?", ""),
        ("Xi Jinping out before 2027?", "If China's General Secretary is removed from power."),
        ("Will the Fed cut interest rates in March?", ""),
    ],
)
def test_national_power_and_policy_of_major_economies_is_political_risk(title, description):
    decision = evaluate(market(title, description))

    assert isinstance(decision, Accepted), decision
    assert (decision.signal["signal_type"], decision.signal["category"]) == ("POLITICAL_POLICY", "POLITICAL")


@pytest.mark.parametrize(
    "title",
    [
        "Will Gavin Newsom win the 2028 Democratic presidential nomination?",  # a party's race
        "Will the NYC mayoral election be won by Mamdani?",  # a city's
        "Will Trump say 'tariff' during the State of the Union?",  # words, not events
        "Who will be Time's Person of the Year?",
    ],
)
def test_races_that_decide_no_national_power_and_mention_markets_are_not_relevant(title):
    assert not relevance_verdict(market(title, "In the United States.")).relevant


@pytest.mark.parametrize(
    "title",
    [
        "Will Trump launch a memecoin before the election?",  # crypto
        "Will Bitcoin hit $150k before the US election?",
        "Will Taylor Swift endorse a candidate in the US election?",  # a celebrity's words
        "Will a recession catch up with us in 2026?",  # "us", the pronoun
        "Will the US Chamber of Commerce president resign?",  # no national office
        "Will UEFA sanction Manchester City?",  # a sports body's sanction
        "Will Elon Musk fire workers at the Tesla factory?",  # "fire", dismiss
        "Will Union Berlin be relegated?",  # a club, not a labour union
        "Will tariffs be mentioned in the Super Bowl halftime show?",  # words at a show
        "Will Trump post about tariffs on Truth Social?",  # a post
    ],
)
def test_questions_that_only_brush_against_risk_words_are_not_relevant(title):
    assert not relevance_verdict(market(title)).relevant


@pytest.mark.parametrize(
    "title",
    [
        "Will the Supreme Court say Trump's tariffs are illegal?",  # a ruling, not words
        "Will Houthis attack a ship in the Red Sea, says Pentagon?",
        "Will the US impose sanctions on Russian oil?",
        "Will the US enter a recession in 2026?",
        "Putin out as President of Russia by end of 2026?",
    ],
)
def test_questions_about_events_that_use_the_same_words_stay_relevant(title):
    assert relevance_verdict(market(title)).relevant


def test_the_blocklist_never_vetoes_a_question_carrying_a_strong_risk_term():
    court = market(
        "Will the Supreme Court rule against federal jurisdiction over sports event contracts?",
        "The U.S. Supreme Court decides whether the CFTC regulates sports event contracts.",
    )
    plain_sport = market("Will the Lakers win the NBA Finals?")

    decision = evaluate(court)
    assert isinstance(decision, Accepted), decision
    semantic = next(step for step in decision.signal["explanation"] if step["rule"] == "semantic_relevance")
    assert semantic["parameters"]["blocked_terms_overridden"] == ["sport"]
    assert not relevance_verdict(plain_sport).relevant


@pytest.mark.parametrize(
    "title", ["Tesla has won the EV charging wars", "The console wars heat up", "A war of words over the budget"]
)
def test_metaphors_of_war_are_not_conflict(title):
    decision = evaluate(article(title))
    signal_type = decision.signal["signal_type"] if isinstance(decision, Accepted) else None
    assert signal_type != "GEOPOLITICAL_CONFLICT"
    assert not relevance_verdict(article(title)).relevant


def test_an_incident_at_a_named_plant_is_a_supply_chain_disruption_without_a_chokepoint():
    story = article(
        "Power cut halts production at Tesla's gigafactory in Germany after suspected arson",
        "Police suspect arson after a fire at a pylon cut power to the car plant near Berlin.",
    )

    decision = evaluate(story)

    assert isinstance(decision, Accepted), decision
    assert decision.signal["signal_type"] == "SUPPLY_CHAIN_DISRUPTION"
    geographic = next(step for step in decision.signal["explanation"] if step["rule"] == "geographic_relevance")
    assert "named facility" in geographic["reasoning"]


def test_an_incident_without_a_facility_counts_for_nothing():
    assert not relevance_verdict(article("Coach fired after fans set fire to a flag")).relevant


# ------------------------------------------------------------------ operators' terms


def test_an_operator_watch_term_makes_a_question_relevant_and_changes_the_ruleset_version():
    question = market("Will lithium carbonate exceed $20,000 a tonne?")
    tuned = Vocabulary([OperatorTerm("lithium carbonate", WATCH, "energy", 2.0)])

    assert not relevance_verdict(question).relevant
    assert relevance_verdict(question, PipelineContext(vocabulary=tuned)).relevant
    decision = evaluate(question, PipelineContext(vocabulary=tuned))
    assert decision.signal["ruleset_version"] == tuned.ruleset_version != Vocabulary().ruleset_version


def test_an_operator_block_term_vetoes_a_question():
    question = market("Will the video game Red Sea Shipping Simulator sell a million copies?")
    tuned = Vocabulary([OperatorTerm("shipping simulator", BLOCK, "")])

    assert relevance_verdict(question).relevant
    assert not relevance_verdict(question, PipelineContext(vocabulary=tuned)).relevant


def test_the_same_operator_terms_give_the_same_version_in_any_order():
    a = OperatorTerm("lithium", WATCH, "energy", 1.0)
    b = OperatorTerm("cobalt", WATCH, "energy", 1.5)

    assert Vocabulary([a, b]).ruleset_version == Vocabulary([b, a]).ruleset_version
    assert Vocabulary([a]).ruleset_version != Vocabulary([a._replace(weight=2.0)]).ruleset_version


def test_an_operator_phrase_keeps_what_the_built_in_terms_inside_it_count_for():
    question = market("Will there be a Taiwan Strait crisis in 2026?")
    tuned = Vocabulary([OperatorTerm("taiwan strait crisis", WATCH, "shipping")])

    decision = evaluate(question, PipelineContext(vocabulary=tuned))

    assert isinstance(decision, Accepted), decision
    assert decision.signal["geographic"]["chokepoints"] == ["Taiwan Strait"]
    assert decision.signal["signal_type"] == evaluate(question).signal["signal_type"]


def test_a_single_word_watch_term_votes_for_its_categorys_signal_type():
    tuned = Vocabulary([OperatorTerm("junta", WATCH, "geopolitical")])

    decision = evaluate(
        market("Will the junta close the border crossing to trucks?"), PipelineContext(vocabulary=tuned)
    )

    assert decision.signal["signal_type"] == "GEOPOLITICAL_CONFLICT"


def test_an_operator_block_term_vetoes_even_a_question_with_a_strong_risk_term():
    question = market("Will Trump raise tariffs on China?")
    tuned = Vocabulary([OperatorTerm("tariff(s)", BLOCK, "")])

    assert relevance_verdict(question).relevant
    assert not relevance_verdict(question, PipelineContext(vocabulary=tuned)).relevant
