import dataclasses
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import orjson
import pytest

from signals.pipeline import Accepted, PipelineContext, Rejected, evaluate
from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.news import parse_newsapi, parse_newsdata
from signals.sources.registry import SOURCES
from tests.support.recorded import RECORDED_DIR

NEWSAPI_FILE = "newsapi_v2_everything_q_tesla_part1.json"
NEWSDATA_FILE = "newsdata_api1_latest_size5.json"
NEWSDATA_ERROR_FILE = "newsdata_api1_latest_error.json"
# Just after the newest recorded article of each reply.
NEWSAPI_FETCHED_AT = datetime(2024, 3, 7, 20, 0, tzinfo=UTC)
NEWSDATA_FETCHED_AT = datetime(2024, 7, 20, 8, 30, tzinfo=UTC)


def load(name):
    return json.loads((RECORDED_DIR / name).read_text(encoding="utf-8"))


def newsapi_article(**overrides):
    record = {
        "source": {"id": "reuters", "name": "Reuters"},
        "author": "A. Writer",
        "title": "Houthi missile strike halts container shipping in the Red Sea",
        "description": "Carriers reroute vessels around the Cape of Good Hope.",
        "url": "https://www.Reuters.com/world/red-sea-shipping-2024-03-07/",
        "urlToImage": None,
        "publishedAt": "2024-03-07T19:00:00Z",
        "content": "Carriers reroute... [+1200 chars]",
    }
    record.update(overrides)
    for key in [k for k, v in record.items() if v is ...]:
        del record[key]
    return record


def newsdata_article(**overrides):
    record = {
        "article_id": "abc123",
        "title": "Port strike closes Rotterdam container terminals",
        "link": "https://www.joc.com/port-strike-rotterdam",
        "keywords": ["ports", "labor"],
        "description": "Dockworkers walked out on Saturday.",
        "pubDate": "2024-07-20 08:00:00",
        "source_id": "joc",
        "country": ["netherlands"],
        "category": ["business"],
    }
    record.update(overrides)
    for key in [k for k, v in record.items() if v is ...]:
        del record[key]
    return record


def one_newsapi(record, fetched_at=NEWSAPI_FETCHED_AT):
    (result,) = parse_newsapi({"status": "ok", "totalResults": 1, "articles": [record]}, fetched_at=fetched_at)
    return result


def one_newsdata(record, fetched_at=NEWSDATA_FETCHED_AT):
    (result,) = parse_newsdata({"status": "success", "totalResults": 1, "results": [record]}, fetched_at=fetched_at)
    return result


# --------------------------------------------------------------------------- recorded replies


def test_all_50_recorded_newsapi_articles_parse_into_raw_events():
    results = parse_newsapi(load(NEWSAPI_FILE), fetched_at=NEWSAPI_FETCHED_AT)

    assert len(results) == 50
    assert all(isinstance(r, RawEvent) for r in results)
    first = results[0]
    url = "https://www.engadget.com/tesla-has-won-the-ev-charging-wars-155726724.html"
    assert first.url == url
    assert first.external_id == sha256(url.encode()).hexdigest()[:32]
    assert first.event_id == f"newsapi-{first.external_id}"
    assert first.title == "Tesla has won the EV charging wars"
    assert "\r" not in first.description and first.description.startswith("Stellantis is the latest")
    assert first.attributes == {
        "domain": "engadget.com",
        "published_at": datetime(2024, 2, 12, 15, 57, 26, tzinfo=UTC),
        "source_name": "Engadget",
    }
    assert first.observed_at == NEWSAPI_FETCHED_AT
    assert (first.probability, first.probability_is_estimate) == (0.5, True)
    assert (first.liquidity, first.volume) == (0.0, 0.0)
    assert len({r.event_id for r in results}) == 50
    domains = Counter(r.attributes["domain"] for r in results)
    assert domains["businessinsider.com"] == 27 and "www.wired.com" not in domains


def test_recorded_newsapi_articles_all_get_a_pipeline_decision_and_none_is_accepted():
    results = parse_newsapi(load(NEWSAPI_FILE), fetched_at=NEWSAPI_FETCHED_AT)
    decisions = [evaluate(r, PipelineContext()) for r in results]

    assert all(isinstance(d, Accepted | Rejected) for d in decisions)
    assert not [d for d in decisions if isinstance(d, Accepted)]  # Tesla consumer news, mostly weeks old
    by_rule = Counter(d.rule for d in decisions)
    assert sum(by_rule.values()) == 50
    assert by_rule["semantic_relevance"] >= 40  # no risk vocabulary in most Tesla headlines
    stale = [d for d in decisions if d.rule == "news_quality"]
    assert stale and all("recency" in d.reason for d in stale)
    super_bowl = [d for r, d in zip(results, decisions, strict=True) if "Super Bowl" in r.title]
    assert super_bowl and "super bowl" in super_bowl[0].reason


def test_a_recorded_newsapi_article_observed_when_fresh_passes_news_quality():
    results = parse_newsapi(load(NEWSAPI_FILE), fetched_at=NEWSAPI_FETCHED_AT)
    (article,) = [r for r in results if "least problematic EV supply chains" in r.title]

    assert isinstance(evaluate(article), Rejected)  # 8 days old when fetched
    fresh = dataclasses.replace(article, observed_at=article.attributes["published_at"] + timedelta(hours=1))
    decision = evaluate(fresh)
    assert isinstance(decision, Accepted)
    assert decision.news_fingerprint


def test_all_5_recorded_newsdata_results_parse_and_are_rejected_as_off_topic():
    results = parse_newsdata(load(NEWSDATA_FILE), fetched_at=NEWSDATA_FETCHED_AT)

    assert len(results) == 5
    assert all(isinstance(r, RawEvent) for r in results)
    first = results[0]
    assert first.event_id == "newsdata-274a832b756892d0a1ea3f80280881cf"
    assert first.attributes["domain"] == "afl.com.au"
    assert first.attributes["published_at"] == datetime(2024, 7, 20, 8, 19, tzinfo=UTC)  # no zone in the reply: UTC
    assert first.attributes["source_name"] == "afl_au"
    assert first.description == ""  # null in the reply
    assert results[3].keywords == ("sports",)

    decisions = [evaluate(r) for r in results]
    assert all(isinstance(d, Rejected) for d in decisions)
    assert [d.rule for d in decisions] == ["semantic_relevance"] * 5
    assert sum("Off-topic" in d.reason for d in decisions) == 2  # the two tagged "sports"


def test_registered_news_parsers_need_only_fetched_at():
    assert len(SOURCES["newsapi"].parser(load(NEWSAPI_FILE), fetched_at=NEWSAPI_FETCHED_AT)) == 50
    assert len(SOURCES["newsdata"].parser(load(NEWSDATA_FILE), fetched_at=NEWSDATA_FETCHED_AT)) == 5


def test_same_reply_twice_gives_equal_events():
    assert parse_newsapi(load(NEWSAPI_FILE), fetched_at=NEWSAPI_FETCHED_AT) == parse_newsapi(
        load(NEWSAPI_FILE), fetched_at=NEWSAPI_FETCHED_AT
    )
    assert parse_newsdata(load(NEWSDATA_FILE), fetched_at=NEWSDATA_FETCHED_AT) == parse_newsdata(
        load(NEWSDATA_FILE), fetched_at=NEWSDATA_FETCHED_AT
    )


# --------------------------------------------------------------------------- error envelopes and shapes


def test_newsdata_error_envelope_raises_value_error_with_code_and_message():
    with pytest.raises(ValueError) as error:
        parse_newsdata(load(NEWSDATA_ERROR_FILE), fetched_at=NEWSDATA_FETCHED_AT)
    assert "UnsupportedParameter" in str(error.value)
    assert "Ensure that you have passed the correct parameters" in str(error.value)


def test_newsapi_error_envelope_raises_value_error_with_the_message():
    payload = {"status": "error", "code": "apiKeyInvalid", "message": "Your API key is invalid or incorrect."}
    with pytest.raises(ValueError, match="apiKeyInvalid: Your API key is invalid or incorrect"):
        parse_newsapi(payload, fetched_at=NEWSAPI_FETCHED_AT)


@pytest.mark.parametrize(
    ("parser", "payload", "words"),
    [
        (parse_newsapi, [], "not a NewsAPI reply: it is a JSON array; expected a JSON object"),
        (parse_newsapi, {}, "not a NewsAPI reply: the key 'status' is missing; expected"),
        (parse_newsapi, {"status": "ok", "articles": None}, "not a NewsAPI reply: 'articles' is not an array"),
        (parse_newsapi, {"articles": []}, "not a NewsAPI reply: the key 'status' is missing"),
        (parse_newsapi, {"status": "error"}, "not a NewsAPI reply: it reports an error but says nothing"),
        (parse_newsdata, "error", "not a NewsData reply: it is a JSON string"),
        (parse_newsdata, {"status": "success", "results": {}}, "not a NewsData reply: 'results' is not an array"),
        (parse_newsdata, {"status": "pending", "results": []}, "status is 'pending', not 'success' or 'error'"),
        (parse_newsdata, {"status": "error", "results": None}, "not a NewsData reply: it reports an error but says"),
    ],
)
def test_payload_of_the_wrong_shape_says_the_source_the_problem_and_how_the_reply_begins(parser, payload, words):
    """Never "None": which source was expected, what is wrong, and the first bytes of what came."""
    with pytest.raises(ValueError, match=re.escape(words)) as raised:
        parser(payload, fetched_at=NEWSAPI_FETCHED_AT)

    message = str(raised.value)
    assert "None" not in message
    assert ("It begins: " + orjson.dumps(payload).decode()[:120]) in message or "replied with an error" in message


def test_a_long_reply_of_the_wrong_shape_shows_only_its_beginning():
    payload = {"data": ["x" * 50] * 40}

    with pytest.raises(ValueError) as raised:
        parse_newsapi(payload, fetched_at=NEWSAPI_FETCHED_AT)

    assert str(raised.value).endswith(orjson.dumps(payload).decode()[:120] + "...")


# --------------------------------------------------------------------------- one article


def test_fresh_wire_article_about_red_sea_shipping_is_accepted():
    event = one_newsapi(newsapi_article())
    assert event.attributes["domain"] == "reuters.com"
    decision = evaluate(event)
    assert isinstance(decision, Accepted)
    assert decision.signal["signal_type"] in ("SHIPPING_ROUTE_RISK", "GEOPOLITICAL_CONFLICT")
    # The same article again is a duplicate once its fingerprint is known.
    again = evaluate(event, PipelineContext(seen_news_fingerprints=frozenset({decision.news_fingerprint})))
    assert isinstance(again, Rejected) and "Duplicate" in again.reason


def test_newsdata_article_without_an_id_gets_a_url_hash_id():
    event = one_newsdata(newsdata_article(article_id=None))
    assert event.external_id == sha256(b"https://www.joc.com/port-strike-rotterdam").hexdigest()[:32]
    assert event.keywords == ("business", "labor", "ports")
    assert isinstance(evaluate(event), Accepted)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"title": ...}, "title", "title is missing"),
        ({"title": None}, "title", "title is missing"),
        ({"title": "  \r\n "}, "title", "title is empty"),
        ({"title": 42}, "title", "must be a string"),
        ({"title": "x" * 10_000_000}, "title", "10,000,000 characters long"),
        ({"title": "[Removed]"}, "title", "withdrew"),
        ({"url": ...}, "url", "url is missing"),
        ({"url": "ftp://example.com/a"}, "url", "absolute http(s) URL"),
        ({"url": "/relative/path"}, "url", "absolute http(s) URL"),
        ({"url": "http://[::1"}, "url", "not a URL"),
        ({"url": ["https://a.com"]}, "url", "must be a string"),
        ({"publishedAt": "last Tuesday"}, "publishedAt", "not a date-time"),
        ({"publishedAt": None}, "publishedAt", "missing"),
        ({"publishedAt": 1709836800}, "publishedAt", "date-time string"),
        ({"description": {"text": "x"}}, "description", "must be a string"),
        ({"source": "Reuters"}, "source", "must be an object"),
        ({"source": {"name": 7}}, "source.name", "must be a string"),
    ],
)
def test_malformed_newsapi_article_is_a_parse_failure_naming_the_field(overrides, field, words):
    bad = one_newsapi(newsapi_article(**overrides))

    assert isinstance(bad, ParseFailure)
    assert (bad.source, bad.field) == ("newsapi", field)
    assert field in bad.reason and words in bad.reason
    assert len(bad.reason) < 500 and len(bad.excerpt) <= 500


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"title": ...}, "title", "missing"),
        ({"title": "y" * 10_000_000}, "title", "characters long"),
        ({"link": None}, "link", "missing"),
        ({"link": "not a url"}, "link", "absolute http(s) URL"),
        ({"pubDate": "20/07/2024 08:00"}, "pubDate", "not a date-time"),
        ({"pubDate": ...}, "pubDate", "missing"),
        ({"article_id": 12345}, "article_id", "must be a string"),
        ({"keywords": "ports"}, "keywords", "list of strings"),
        ({"category": [None]}, "category", "strings"),
        ({"source_id": ["joc"]}, "source_id", "must be a string"),
    ],
)
def test_malformed_newsdata_article_is_a_parse_failure_naming_the_field(overrides, field, words):
    bad = one_newsdata(newsdata_article(**overrides))

    assert isinstance(bad, ParseFailure)
    assert (bad.source, bad.field) == ("newsdata", field)
    assert field in bad.reason and words in bad.reason
    assert len(bad.excerpt) <= 500


def test_a_bad_article_does_not_stop_the_batch():
    payload = load(NEWSAPI_FILE)
    payload["articles"][3]["publishedAt"] = "not a date"
    payload["articles"][7] = "not an article"
    results = parse_newsapi(payload, fetched_at=NEWSAPI_FETCHED_AT)

    assert len(results) == 50
    assert [i for i, r in enumerate(results) if isinstance(r, ParseFailure)] == [3, 7]
    assert results[3].field == "publishedAt" and results[3].external_id  # the URL still gives an id
    assert results[7].field == "article"


def test_newsdata_pub_date_with_an_offset_is_converted_to_utc():
    event = one_newsdata(newsdata_article(pubDate="2024-07-20 10:00:00+02:00"))
    assert event.attributes["published_at"] == datetime(2024, 7, 20, 8, tzinfo=UTC)


def test_naive_fetched_at_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_newsdata(load(NEWSDATA_FILE), fetched_at=datetime(2024, 7, 20))


# --------------------------------------------------------------------------- control characters

# ANSI colour, an OSC title, BEL and CR/LF, as a hostile or broken feed could send them.
DIRTY_TITLE = "\x1b[1;31mPort strike\x1b[0m halts\x07 Rotterdam\r\ncontainer traffic\x1b]0;pwned\x07"
CLEAN_TITLE = "Port strike halts Rotterdam container traffic"
DIRTY_DESCRIPTION = "Dockworkers\x07 walked out\x9b2J on Monday.\r\n\x1b[32mMore\x1b[0m"
CLEAN_DESCRIPTION = "Dockworkers walked out on Monday. More"


def test_newsapi_text_fields_lose_escape_sequences_bells_and_line_breaks():
    event = one_newsapi(
        newsapi_article(
            title=DIRTY_TITLE,
            description=DIRTY_DESCRIPTION,
            url="https://www.reuters.com/\x1b[31mport-strike\x07\r\n",
            source={"id": "reuters", "name": "\x1b[1mReuters\x07"},
        )
    )

    assert isinstance(event, RawEvent)
    assert (event.title, event.description) == (CLEAN_TITLE, CLEAN_DESCRIPTION)
    assert event.url == "https://www.reuters.com/port-strike"
    assert event.external_id == sha256(b"https://www.reuters.com/port-strike").hexdigest()[:32]
    assert event.attributes["source_name"] == "Reuters"


def test_newsdata_text_fields_lose_escape_sequences_bells_and_line_breaks():
    event = one_newsdata(
        newsdata_article(
            article_id="\x1b[31mabc123\x07",
            title=DIRTY_TITLE,
            description=DIRTY_DESCRIPTION,
            link="https://www.joc.com/\x1b]8;;x\x1b\\port-strike\r\n",
            keywords=["\x1b[33mports\x1b[0m", "labor\x07"],
            source_name="\x1b[1mJOC\r\n",
        )
    )

    assert isinstance(event, RawEvent)
    assert (event.title, event.description) == (CLEAN_TITLE, CLEAN_DESCRIPTION)
    assert (event.external_id, event.url) == ("abc123", "https://www.joc.com/port-strike")
    assert event.keywords == ("business", "labor", "ports")
    assert event.attributes["source_name"] == "JOC"


@pytest.mark.parametrize(
    ("parser", "payload"),
    [
        (parse_newsapi, {"status": "error", "code": "rate\x07Limited", "message": "\x1b[31mToo many\r\nrequests"}),
        (parse_newsdata, {"status": "error", "results": {"code": "rate\x07Limited", "message": "\x1b[31mToo many"}}),
    ],
)
def test_an_error_envelopes_message_is_raised_without_control_characters(parser, payload):
    with pytest.raises(ValueError) as error:
        parser(payload, fetched_at=NEWSAPI_FETCHED_AT)

    assert "code rateLimited: Too many" in str(error.value)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in str(error.value))
