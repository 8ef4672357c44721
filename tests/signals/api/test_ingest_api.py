"""``POST /api/v1/signals/ingest/``: a partner's reply through the pipeline, per-record outcomes, idempotency, size."""

import dataclasses
import gzip
import hashlib
import io
import json
from datetime import timedelta

import psycopg
import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from ledger.models import LedgerOutbox
from omen_site.api.keys import ApiKey
from omen_site.models import IdempotentRequest
from signals.api import ingest as ingest_view
from signals.models import Rejection, Signal, SourceEvent
from signals.sources.registry import SOURCES
from tests.support.throttle_windows import away_from_a_minutes_end

pytestmark = pytest.mark.django_db

URL = "/api/v1/signals/ingest/"


@pytest.fixture
def partner(client):
    _, raw = ApiKey.issue("partner", ["write:signals"])
    client.defaults["HTTP_X_API_KEY"] = raw
    return client


@pytest.fixture
def markets(recorded_dir):
    """Fifteen real Gamma markets, among them ones that become signals and ones that are rejected."""
    return json.loads((recorded_dir / "polymarket_gamma_markets_active_part1.json").read_text())[25:40]


def post(client, body, path=URL, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_every_record_comes_back_as_its_signal_or_its_rejection_in_the_order_sent(partner, markets):
    markets[3] = {"id": "broken", "question": "No prices"}  # a malformed record among good ones

    reply = post(partner, {"source": "polymarket", "reply": markets, "fetched_at": "2026-12-01T00:00:00Z"})

    assert reply.status_code == 200, reply.content
    body = reply.json()
    assert [r["external_id"] for r in body["records"]] == [str(m["id"]) for m in markets]
    assert body["records"][3]["outcome"] == "rejected" and body["records"][3]["status"] == "REJECTED_PARSE"
    created = [r["signal_id"] for r in body["records"] if r["outcome"] == "created"]
    rejected = [r for r in body["records"] if r["outcome"] == "rejected"]
    assert created and body["created"] == len(created)
    assert sorted(created) == sorted(Signal.objects.values_list("signal_id", flat=True))
    assert set(Signal.objects.values_list("pushed", flat=True)) == {True}  # kept by the partner signals' policy
    assert len(rejected) == body["rejected"] == Rejection.objects.count()
    assert all(r["rule"] and r["reason"] for r in rejected)
    # In the ledger's outbox: framed like any other save.
    assert sorted(LedgerOutbox.objects.values_list("signal_id", flat=True)) == sorted(created)

    again = post(partner, {"source": "polymarket", "reply": markets, "fetched_at": "2026-12-01T00:00:00Z"}).json()
    assert {r["outcome"] for r in again["records"] if r["signal_id"]} == {"existing"}
    assert Signal.objects.count() == len(created)


def test_a_record_sent_twice_in_one_batch_is_created_once_and_then_existing(partner, markets):
    market = markets[7]  # a ceasefire market: one that becomes a signal
    reply = post(partner, {"source": "polymarket", "reply": [market, market]}).json()

    first, second = reply["records"]
    assert first["signal_id"] == second["signal_id"] is not None
    assert (first["outcome"], second["outcome"]) == ("created", "existing")
    assert (reply["created"], reply["unchanged"]) == (1, 1)


def test_json_nested_too_deep_to_read_is_a_400_not_a_500(partner):
    deep = '{"source": "polymarket", "reply": ' + "[" * 5000 + "]" * 5000 + "}"

    reply = partner.post(URL, data=deep, content_type="application/json")

    assert reply.status_code == 400, reply.content
    assert reply.json()["error"] == "parse_error" and "nested too deep" in reply.json()["message"]


def test_the_same_idempotency_key_and_body_returns_the_first_answer_and_another_body_is_a_409(partner, markets):
    body = {"source": "polymarket", "reply": markets[:8], "fetched_at": "2026-12-01T00:00:00Z"}
    first = post(partner, body, HTTP_IDEMPOTENCY_KEY="order-17")
    assert first.json()["created"] > 0
    Signal.objects.all().delete()  # had the request run again, it would create them again

    replayed = post(partner, body, HTTP_IDEMPOTENCY_KEY="order-17")
    other = post(partner, {**body, "reply": markets[8:12]}, HTTP_IDEMPOTENCY_KEY="order-17")

    assert replayed.status_code == first.status_code == 200
    assert replayed.content == first.content and replayed["Idempotent-Replayed"] == "true"
    assert not Signal.objects.exists()
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    assert other.json()["details"][0]["field"] == "Idempotency-Key"


def test_replays_count_against_the_keys_rate_and_say_where_it_stands(client):
    _, raw = ApiKey.issue("slow partner", ["write:signals"], throttle_rate="2/min")
    body = {"source": "polymarket", "reply": []}
    away_from_a_minutes_end()

    first, replayed, past_the_rate = (
        post(client, body, HTTP_IDEMPOTENCY_KEY="k", HTTP_X_API_KEY=raw) for _ in range(3)
    )

    assert (first.status_code, first["X-RateLimit-Remaining"]) == (200, "1")
    assert replayed["Idempotent-Replayed"] == "true"
    assert (replayed.status_code, replayed["X-RateLimit-Limit"], replayed["X-RateLimit-Remaining"]) == (200, "2", "0")
    assert past_the_rate.status_code == 429 and int(past_the_rate["Retry-After"]) >= 1
    assert past_the_rate.json()["error"] == "throttled" and past_the_rate["X-RateLimit-Remaining"] == "0"


def test_a_replayed_refusal_is_the_same_error_under_the_replays_own_request_id(partner):
    body = {"source": "nowhere", "reply": []}

    first, replayed = (post(partner, body, HTTP_IDEMPOTENCY_KEY="bad-1") for _ in range(2))

    assert first.status_code == replayed.status_code == 400 and replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["request_id"] == replayed["X-Request-ID"] != first["X-Request-ID"]
    assert {**replayed.json(), "request_id": ""} == {**first.json(), "request_id": ""}


def test_the_schema_documents_every_posts_idempotency_key_and_its_answers(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    ingest = document["paths"][URL]["post"]
    listing = document["paths"]["/api/v1/signals/"]["get"]

    assert "Idempotency-Key" in [p["name"] for p in ingest["parameters"] if p["in"] == "header"]
    assert {"400", "409", "413", "415", "429"} <= set(ingest["responses"])
    assert "Idempotent-Replayed" in ingest["responses"]["200"]["headers"]
    assert not {"409", "413", "415"} & set(listing["responses"])
    assert "Idempotency-Key" not in [p["name"] for p in listing.get("parameters", [])]


@pytest.mark.parametrize("debug", [False, True])
def test_a_post_missing_the_trailing_slash_is_sent_on_with_its_method_and_body(partner, markets, settings, debug):
    settings.DEBUG = debug  # with DEBUG on, Django's own redirect raises for a POST
    body = {"source": "polymarket", "reply": markets[:3]}

    redirected = post(partner, body, path=URL.rstrip("/"))

    assert redirected.status_code == 308 and redirected["Location"] == URL
    assert redirected["X-Request-ID"]
    assert post(partner, body, path=redirected["Location"]).status_code == 200


def test_a_post_sent_on_by_the_redirect_keeps_its_idempotency_key(partner, markets):
    body = {"source": "polymarket", "reply": markets[:3]}

    redirected = post(partner, body, path=URL.rstrip("/"), HTTP_IDEMPOTENCY_KEY="batch-9")
    followed = post(partner, body, path=redirected["Location"], HTTP_IDEMPOTENCY_KEY="batch-9")
    again = post(partner, body, path=redirected["Location"], HTTP_IDEMPOTENCY_KEY="batch-9")

    assert (redirected.status_code, followed.status_code) == (308, 200)
    assert again["Idempotent-Replayed"] == "true" and again.content == followed.content


def test_a_path_no_view_answers_is_not_kept_under_the_idempotency_key(partner):
    body = {"source": "polymarket", "reply": []}

    assert post(partner, body, path="/api/v1/nowhere/", HTTP_IDEMPOTENCY_KEY="k").status_code == 404
    assert post(partner, body, HTTP_IDEMPOTENCY_KEY="k").status_code == 200  # not "used for another request"


def test_idempotency_keys_belong_to_the_api_key_that_sent_them(partner, client, markets):
    body = {"source": "polymarket", "reply": markets[:2]}
    post(partner, body, HTTP_IDEMPOTENCY_KEY="k1")
    _, other_partner = ApiKey.issue("other partner", ["write:signals"])

    reply = post(client, {**body, "reply": markets[2:4]}, HTTP_IDEMPOTENCY_KEY="k1", HTTP_X_API_KEY=other_partner)

    assert reply.status_code == 200 and "Idempotent-Replayed" not in reply
    assert IdempotentRequest.objects.count() == 2


def test_a_refused_request_is_not_kept_so_its_retry_runs(client, markets):
    _, reader = ApiKey.issue("reader", ["read:signals"])
    body = {"source": "polymarket", "reply": markets[:2]}

    refused = post(client, body, HTTP_IDEMPOTENCY_KEY="k", HTTP_X_API_KEY=reader)

    assert refused.status_code == 403
    assert not IdempotentRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source": "nowhere", "reply": []}, "source"),
        ({"reply": []}, "source"),
        ({"source": "polymarket"}, "reply"),
        ({"source": "polymarket", "reply": "not a reply"}, "reply"),
        ({"source": "newsapi", "reply": {}}, "reply"),
        ({"source": "polymarket", "reply": [], "fetched_at": "yesterday"}, "fetched_at"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field(partner, body, field):
    reply = post(partner, body)
    assert reply.status_code == 400, reply.content
    assert field in [d["field"] for d in reply.json()["details"]]


def test_a_body_over_ten_mib_is_a_413_before_it_is_read(partner):
    reply = partner.post(URL, data=b"[" + b" " * (10 * 2**20) + b"]", content_type="application/json")
    assert reply.status_code == 413
    assert reply.json()["error"] == "body_too_large"


def test_a_malformed_idempotency_key_is_a_400(partner):
    reply = post(partner, {"source": "polymarket", "reply": []}, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert reply.status_code == 400 and reply.json()["details"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_a_fetch_time_outside_the_years_the_parsers_accept_is_a_400_naming_fetched_at(partner, markets, moment):
    """The fault probe's fetched_at of year 1: a market without updatedAt is observed at its fetch
    time, and the history window before it was an OverflowError (a 500); 9999 was taken, and every
    market looked past its end date. ingest_file's --fetched-at takes the same years."""
    market = {key: value for key, value in markets[7].items() if key != "updatedAt"}

    reply = post(partner, {"source": "polymarket", "reply": [market], "fetched_at": moment})

    assert reply.status_code == 400, reply.content
    assert [d["field"] for d in reply.json()["details"]] == ["fetched_at"]
    assert "1970" in reply.json()["message"] and "2200" in reply.json()["message"]
    assert not Signal.objects.exists() and not Rejection.objects.exists()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"source": "polymarket", "reply": [{"id": "1\\ud800", "question": "Ceasefire?"}]}', "reply[0].id"),
        ('{"source": "polymarket", "reply": [{}, {"id": "2", "question": "Ceasefire \\udc00"}]}', "reply[1].question"),
        ('{"source": "polymarket", "reply": [{"\\udfff": 1}]}', "reply[0]"),
        ('{"source": "polymarket\\ud83d", "reply": []}', "source"),
    ],
)
def test_a_lone_surrogate_anywhere_in_the_body_is_a_400_naming_where(partner, text, field):
    """The fault probe's "\\ud800" in a record: JSON's escapes can spell half a UTF-16 pair, which
    is no character; Python kept it in a str that no UTF-8 encoder takes (the rejection's digest
    raised UnicodeEncodeError, a 500; a text column refuses it). A poll's reply, read by orjson,
    is refused whole for it; so is the API's body, naming where it is."""
    reply = partner.post(URL, data=text, content_type="application/json")

    assert reply.status_code == 400, reply.content
    assert [d["field"] for d in reply.json()["details"]] == [field]
    assert "surrogate" in reply.json()["message"]
    assert not Signal.objects.exists() and not Rejection.objects.exists()


def test_an_escaped_surrogate_pair_is_the_character_it_spells(partner, markets):
    market = {**markets[7], "question": markets[7]["question"] + " \U0001f54a"}  # a dove, as "\ud83d\udd4a"

    reply = partner.post(
        URL, data=json.dumps({"source": "polymarket", "reply": [market]}), content_type="application/json"
    )

    assert reply.status_code == 200, reply.content
    assert Signal.objects.get().title.endswith("\U0001f54a")


def test_a_body_cut_short_by_a_client_gone_mid_upload_does_not_use_up_its_idempotency_key(partner, markets):
    """The fault probe's partner that went away halfway through its upload: the server read what
    came (gunicorn hands a short body over as it is), kept the 400 its half got under the key, and
    the partner's retry of the whole body was a 409, "used for another request", for 24 hours."""
    whole = json.dumps({"source": "polymarket", "reply": markets[:8]}).encode()
    cut = partner.post(
        URL,
        data=whole,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="upload-1",
        **{"wsgi.input": io.BytesIO(whole[: len(whole) // 2])},  # Content-Length says the whole
    )

    retried = partner.post(URL, data=whole, content_type="application/json", HTTP_IDEMPOTENCY_KEY="upload-1")

    assert cut.status_code == 400 and cut.json()["error"] == "body_incomplete"
    assert cut.json()["details"][0]["field"] == "Content-Length"
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried, retried.content
    assert retried.json()["created"] > 0


def chunked(client, body: bytes, *, terminated: bool = True, **headers):
    """A POST as gunicorn hands a chunked upload over: no Content-Length, the input decoded and ended."""
    environ = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body)}
    if terminated:
        environ["wsgi.input_terminated"] = True
    return client.post(URL, data=body, content_type="application/json", **environ, **headers)


def test_a_chunked_body_is_read_whole_and_one_over_ten_mib_is_a_413(partner, markets):
    """The fault probe's chunked uploads to gunicorn: with no Content-Length, Django read an empty
    body, so a good batch was a 400 ("source: This field is required") and one past 10 MiB never
    met the limit."""
    body = json.dumps({"source": "polymarket", "reply": markets[:8]}).encode()

    first = chunked(partner, body, HTTP_IDEMPOTENCY_KEY="chunked-1")
    replayed = chunked(partner, body, HTTP_IDEMPOTENCY_KEY="chunked-1")
    too_large = chunked(partner, b'{"source": "polymarket", "reply": [' + b" " * (10 * 2**20) + b"]}")

    assert first.status_code == 200 and first.json()["created"] > 0, first.content
    assert replayed["Idempotent-Replayed"] == "true" and replayed.content == first.content
    assert too_large.status_code == 413 and too_large.json()["error"] == "body_too_large"


def test_a_chunked_body_a_server_does_not_end_is_a_411(partner):
    """A server that passes a chunked body on undecoded (runserver's) gives no end to read to."""
    reply = chunked(partner, b'{"source": "polymarket", "reply": []}', terminated=False)

    assert reply.status_code == 411 and reply.json()["error"] == "length_required"
    assert reply.json()["details"][0]["field"] == "Content-Length"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "identity, gzip"])
def test_a_compressed_body_is_a_415_naming_content_encoding(partner, coding):
    """The fault probe's gzip upload: the body was read as the JSON it is not, a 400 saying its
    UTF-8 could not be decoded at byte 0x8b, which sent the partner looking in the wrong place."""
    body = gzip.compress(json.dumps({"source": "polymarket", "reply": []}).encode())

    reply = partner.post(URL, data=body, content_type="application/json", HTTP_CONTENT_ENCODING=coding)

    assert reply.status_code == 415, reply.content
    assert reply.json()["error"] == "unsupported_content_encoding"
    assert reply.json()["details"][0]["field"] == "Content-Encoding"
    assert reply["Accept-Encoding"] == "identity"


def test_a_body_said_to_be_identity_encoded_is_read(partner):
    body = json.dumps({"source": "polymarket", "reply": []})

    reply = partner.post(URL, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="Identity")

    assert reply.status_code == 200, reply.content


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_request_whose_database_connection_is_cut_midway_leaves_its_key_free_for_the_retry(
    partner, markets, monkeypatch, settings
):
    """The fault probe's connections cut under a running ingest (a restart, a failover): the view
    failed, and so did forgetting the key on the same dead connection, so the key stayed "in
    progress" and the partner's retry was a 409 "still running" for ten minutes, though nothing ran."""
    if connection.vendor != "postgresql":
        pytest.skip("a connection to cut: PostgreSQL's")
    partner.raise_request_exception = False
    real_ingest = ingest_view.signals_ingest

    def cut_then_ingest(**kwargs):
        with psycopg.connect(**psycopg_params(settings), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s, 5000)", [connection.connection.info.backend_pid])
        return real_ingest(**kwargs)

    monkeypatch.setattr(ingest_view, "signals_ingest", cut_then_ingest)
    body = {"source": "polymarket", "reply": markets[:8]}
    cut = post(partner, body, HTTP_IDEMPOTENCY_KEY="cut-1")
    monkeypatch.setattr(ingest_view, "signals_ingest", real_ingest)
    close_old_connections()  # as a server does when a request ends (the test client does not)

    retried = post(partner, body, HTTP_IDEMPOTENCY_KEY="cut-1")

    assert cut.status_code == 500 and cut.json()["error"] == "server_error"
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried, retried.content
    assert retried.json()["created"] > 0


def psycopg_params(settings) -> dict:
    db = settings.DATABASES["default"]
    return {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"] or 5432}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b'{"source": "polymarket", "reply": [', "application/json", 400, "body"),
        (b'{"source": "polymarket", "reply": ["\xff"]}', "application/json", 400, "body"),
        (b'{"source": "polymarket", "reply": [NaN]}', "application/json", 400, "body"),
        (b'{"source": "polymarket", "reply": []}', "text/plain", 415, "Content-Type"),
        (b'{"source": "polymarket", "reply": []}', "", 415, "Content-Type"),
        (b"[" + b" " * (10 * 2**20) + b"]", "application/json", 413, "body"),
    ],
)
def test_a_body_or_header_refused_whole_is_named_in_the_details(partner, body, content_type, status, field):
    """The fault probe's refusals of the body as a whole (JSON that does not parse, a Content-Type
    that is not JSON, a body too large): the error shape's details were empty, naming nothing."""
    reply = partner.post(URL, data=body, content_type=content_type)

    assert reply.status_code == status, reply.content
    assert [d["field"] for d in reply.json()["details"]] == [field]
    assert reply.json()["details"][0]["code"] == reply.json()["error"]


def test_a_key_whose_request_still_runs_is_a_409_naming_the_key(partner):
    body = json.dumps({"source": "polymarket", "reply": []}).encode()
    running = post(partner, {"source": "polymarket", "reply": []}, HTTP_IDEMPOTENCY_KEY="slow-1")
    IdempotentRequest.objects.update(completed_at=None)  # as while the first request runs
    assert (
        IdempotentRequest.objects.get().request_digest
        == hashlib.sha256(b"POST\0" + URL.encode() + b"\0" + body).hexdigest()
    )

    again = partner.post(URL, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="slow-1")

    assert running.status_code == 200 and again.status_code == 409
    assert again.json()["error"] == "request_in_progress"
    assert [d["field"] for d in again.json()["details"]] == ["Idempotency-Key"]


RECORDS_A_REQUEST_TAKES = 10_000


def reply_of(source: str, records: int) -> object:
    """A reply of ``records`` records in the source's shape (each a 1, which its parser refuses)."""
    many = [1] * records
    return {
        "polymarket": [{"id": "e1", "markets": many[: records // 2]}, *many[records // 2 :]],  # in an event, and not
        "openmeteo": many,
        "newsapi": {"status": "ok", "articles": many},
        "newsdata": {"status": "success", "results": many},
        "yahoo": {"chart": {"result": many, "error": None}},
    }[source]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_reply_of_more_records_than_a_request_takes_is_a_400_naming_reply_before_any_is_parsed(
    partner, source, monkeypatch
):
    """The fault probe's 400 KB body of 200,000 records ([1, 1, 1, ...]): 11.5 s of a worker and a
    37 MB answer, kept under the key too; a 1.2 MB one outlasted gunicorn's 30 s timeout (the
    worker killed mid-ingest), and 10 MiB spent 30 s in the parser alone. The body limit bounds
    bytes, not records: the count is checked before the parser runs."""
    monkeypatch.setitem(SOURCES, source, dataclasses.replace(SOURCES[source], parser=None))  # never reached

    reply = post(partner, {"source": source, "reply": reply_of(source, RECORDS_A_REQUEST_TAKES + 1)})

    assert reply.status_code == 400, reply.content
    assert [d["field"] for d in reply.json()["details"]] == ["reply"]
    assert "10,001 records" in reply.json()["message"] and "10,000" in reply.json()["message"]
    assert not Rejection.objects.exists()


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_reply_of_as_many_records_as_a_request_takes_is_ingested(partner, source):
    reply = post(partner, {"source": source, "reply": reply_of(source, RECORDS_A_REQUEST_TAKES)})

    assert reply.status_code == 200, reply.content[:300]
    assert reply.json()["fetched"] == RECORDS_A_REQUEST_TAKES


@pytest.mark.parametrize(
    ("wrong", "status"),
    [
        ({"content_type": "text/plain"}, 415),
        ({"content_type": "application/json", "HTTP_ACCEPT": "application/xml"}, 406),
    ],
)
def test_a_refusal_of_a_header_is_not_kept_so_the_retry_with_the_right_one_runs(partner, markets, wrong, status):
    """The fault probe's partner that forgot Content-Type: the 415 was kept under its key, and
    the same body sent again with Content-Type: application/json (the digest covers the method,
    path and body, not the headers) was given the 415 again for 24 hours; an Accept the API
    does not serve (406) the same."""
    body = json.dumps({"source": "polymarket", "reply": markets[:8]})

    refused = partner.post(URL, data=body, HTTP_IDEMPOTENCY_KEY="header-1", **wrong)
    retried = partner.post(URL, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="header-1")

    assert refused.status_code == status, refused.content
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried, retried.content
    assert retried.json()["created"] > 0


def test_an_accept_the_api_does_not_serve_is_a_406_naming_accept(partner):
    reply = post(partner, {"source": "polymarket", "reply": []}, HTTP_ACCEPT="application/xml")

    assert reply.status_code == 406
    assert [d["field"] for d in reply.json()["details"]] == ["Accept"]


def test_a_fetch_time_in_the_future_is_a_400_naming_fetched_at_and_does_not_freeze_its_market(partner, markets):
    """The fault probe's fetched_at of 2029 (a careless partner's 2062 for 2026 would do the
    same): a market without updatedAt is observed at its fetch time, and a market's row moves
    only forward in time, so every later observation, polls' included, was older: its
    probability, title and latest signal stayed as the future push left them."""
    market = {
        **{key: value for key, value in markets[7].items() if key != "updatedAt"},
        "endDate": "2099-01-01T00:00:00Z",
    }
    future = (timezone.now() + timedelta(days=1)).isoformat()
    near = (timezone.now() + timedelta(minutes=1)).isoformat()  # a partner's clock a little ahead

    refused = post(partner, {"source": "polymarket", "reply": [market], "fetched_at": future})
    taken = post(partner, {"source": "polymarket", "reply": [market], "fetched_at": near})

    assert refused.status_code == 400, refused.content
    assert [d["field"] for d in refused.json()["details"]] == ["fetched_at"]
    assert "future" in refused.json()["message"]
    assert taken.status_code == 200 and taken.json()["created"] == 1, taken.content


def test_a_record_observed_after_it_arrived_is_rejected_and_does_not_freeze_its_market(partner, markets):
    """As a fetched_at in the future, a market's own updatedAt ahead of this server's clock: the
    market's row kept the pushed probability, title and latest signal against every later
    observation. The record is rejected, naming updatedAt; the others in the batch go on."""
    market = {**markets[7], "endDate": "2099-01-01T00:00:00Z"}
    ahead = {**market, "updatedAt": (timezone.now() + timedelta(hours=3)).isoformat()}
    other = {**markets[8], "updatedAt": timezone.now().isoformat()}

    first = post(partner, {"source": "polymarket", "reply": [ahead, other]}).json()
    now = {**market, "updatedAt": timezone.now().isoformat(), "outcomePrices": '["0.3", "0.7"]'}
    second = post(partner, {"source": "polymarket", "reply": [now]}).json()

    rejected, taken = first["records"]
    assert (rejected["outcome"], rejected["status"], rejected["field"]) == ("rejected", "REJECTED_PARSE", "updatedAt")
    assert "after" in rejected["reason"] and taken["status"] != "REJECTED_PARSE"
    assert second["records"][0]["outcome"] == "created"
    assert SourceEvent.objects.get(external_id=market["id"]).last_probability == 0.3
