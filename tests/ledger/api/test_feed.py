"""``/api/v1/ledger/frames/`` and ``ledger/partitions/``: the committed ledger, in write order, as stored."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from ledger.models import LedgerWriterState
from ledger.services import seal, tiers, writer
from ledger.services.feed import frames_after
from ledger.wal import read_frames
from omen_site.api.keys import ApiKey
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(client):
    _, raw = ApiKey.issue("consumer", ["read:ledger"])
    client.defaults["HTTP_X_API_KEY"] = raw
    return client


def signals_framed_on(day: datetime, count: int) -> None:
    SignalFactory.create_batch(count)
    writer.ledger_drain(now=day)


def follow(api, limit: int) -> list[dict]:
    frames, after = [], 0
    while True:
        page = api.get(f"/api/v1/ledger/frames/?after={after}&limit={limit}").json()
        frames.extend(page["frames"])
        assert page["next_after"] == (page["frames"][-1]["position"] if page["frames"] else after)
        if not page["has_more"]:
            return frames
        after = page["next_after"]


def tail_everything() -> list[dict]:
    out = io.StringIO()
    call_command("ledger", "tail", "-n", "100000", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_following_the_feed_from_zero_sees_every_frame_once_as_ledger_tail_prints_them(api, settings):
    settings.LEDGER_SEGMENT_MAX_FRAMES = 4  # several segments per partition
    signals_framed_on(DAY, 9)
    seal.partition_seal("2026-11-20", now=DAY + timedelta(days=2))
    tiers.partition_compress("2026-11-20", now=DAY + timedelta(days=3))  # read back from .gz
    signals_framed_on(DAY + timedelta(days=3), 6)
    signals_framed_on(DAY + timedelta(days=4), 3)  # the open partition

    frames = follow(api, limit=4)

    assert [f["position"] for f in frames] == list(range(1, 19))
    assert [f["envelope"] for f in frames] == tail_everything()
    assert [f["partition"] for f in frames] == ["2026-11-20"] * 9 + ["2026-11-23"] * 6 + ["2026-11-24"] * 3
    assert all(f["ledger_sequence"] == f["envelope"]["ledger_sequence"] for f in frames)
    end_only = frames_after(0, 0)
    assert (end_only.frames, end_only.end) == ([], 18)
    assert api.get("/api/v1/ledger/frames/?after=18").json() == {
        "after": 18, "next_after": 18, "end": 18, "has_more": False, "frames": [],
    }  # fmt: skip


def test_the_envelopes_are_the_stored_bytes_and_ndjson_is_ledger_tail(api):
    signals_framed_on(DAY, 3)
    out = io.StringIO()
    call_command("ledger", "tail", "-n", "10", stdout=out)

    reply = api.get("/api/v1/ledger/frames/?after=1", HTTP_ACCEPT="application/x-ndjson")

    assert reply["Content-Type"] == "application/x-ndjson"
    assert reply.content.decode() == "".join(out.getvalue().splitlines(keepends=True)[1:])
    assert (reply["X-Ledger-Next-After"], reply["X-Ledger-End"], reply["X-Ledger-Has-More"]) == ("3", "3", "false")
    stored = out.getvalue().splitlines()[1]
    assert f'"envelope":{stored}'.encode() in api.get("/api/v1/ledger/frames/?after=1&limit=1").content


def test_frames_past_the_recorded_end_are_not_served_until_a_drain_adopts_them(api):
    signals_framed_on(DAY, 3)
    state = LedgerWriterState.objects.get()
    recorded = (state.last_sequence, state.offset, state.segment_frames)
    signals_framed_on(DAY, 2)
    # As if the writer had appended two frames and died before recording them.
    LedgerWriterState.objects.update(last_sequence=recorded[0], offset=recorded[1], segment_frames=recorded[2])

    assert api.get("/api/v1/ledger/frames/").json()["end"] == 3


def test_a_frame_missing_inside_a_segment_stops_the_feed_with_a_503(api, ledger_dir):
    signals_framed_on(DAY, 3)
    segment = next(ledger_dir.glob("*/signals-001.wal"))
    data = segment.read_bytes()
    frames = read_frames(data).frames
    segment.write_bytes(data[: frames[1].offset] + data[frames[2].offset :])  # frame 2 cut out

    reply = api.get("/api/v1/ledger/frames/")

    assert reply.status_code == 503
    assert reply.json()["error"] == "ledger_damaged"
    assert "frame 2 carries sequence" in reply.json()["message"]


@pytest.mark.parametrize("accept", ["application/json", "application/x-ndjson"])
def test_after_past_the_ledgers_end_is_a_400_naming_after_and_the_end(api, accept):
    """A cursor kept from before the database was restored (or from another ledger) got empty pages
    forever: the consumer never learnt, and skipped every frame written below its cursor."""
    signals_framed_on(DAY, 5)
    state = LedgerWriterState.objects.get()
    old_state = (state.last_sequence, state.offset, state.segment_frames)
    signals_framed_on(DAY, 1)  # a sixth frame the consumer has
    # The database as restored from a backup taken after five frames.
    LedgerWriterState.objects.update(last_sequence=old_state[0], offset=old_state[1], segment_frames=old_state[2])

    caught_up = api.get("/api/v1/ledger/frames/?after=5", HTTP_ACCEPT=accept)
    past = api.get("/api/v1/ledger/frames/?after=6", HTTP_ACCEPT=accept)

    assert caught_up.status_code == 200  # a follower at the end polls on
    if accept == "application/json":
        assert caught_up.json() == {"after": 5, "next_after": 5, "end": 5, "has_more": False, "frames": []}
    else:
        assert (caught_up.content, caught_up["X-Ledger-End"]) == (b"", "5")
    assert (past.status_code, past["Content-Type"]) == (400, "application/json")  # the one error shape
    body = past.json()
    assert body["error"] == "invalid_request"
    (detail,) = body["details"]
    assert (detail["field"], detail["code"]) == ("after", "past_end")
    assert detail["message"].startswith("Past the ledger's end, position 5: not a position this ledger gave")
    assert body["request_id"] == past["X-Request-ID"]


def test_the_schema_documents_the_400_for_an_after_past_the_end_in_the_error_shape(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    answer = document["paths"]["/api/v1/ledger/frames/"]["get"]["responses"]["400"]

    assert "past the ledger's end (code `past_end`)" in answer["description"]
    assert answer["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_a_fresh_ledger_refuses_a_cursor_and_serves_after_0(api):
    assert api.get("/api/v1/ledger/frames/?after=0").json()["end"] == 0
    assert api.get("/api/v1/ledger/frames/?after=1").json()["details"][0]["code"] == "past_end"


@pytest.mark.parametrize("gone", ["partition", "segment"])
def test_the_writers_partition_or_segment_missing_is_a_503_not_a_lower_end(api, settings, tmp_path, gone):
    """Counted short of the writer's recorded end, the feed's end was too low: a consumer's cursor
    looked past it (and a new webhook subscription started before frames it had already been sent)."""
    settings.LEDGER_SEGMENT_MAX_FRAMES = 2
    signals_framed_on(DAY, 3)  # segments 1 (two frames) and 2 (the recorded end)
    partition = settings.LEDGER_DIR / "2026-11-20"
    if gone == "partition":
        partition.rename(tmp_path / "unmounted")
    else:
        (partition / "signals-002.wal").unlink()

    reply = api.get("/api/v1/ledger/frames/?after=3")

    assert reply.status_code == 503
    assert (
        reply.json()["message"]
        == {
            "partition": "2026-11-20, where the writer recorded the ledger's end, is in none of LEDGER_DIR, "
            "LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR: where the ledger ends is unknown (is a volume missing?); "
            "run ledger verify",
            "segment": "2026-11-20/signals-002.wal: missing, though the writer recorded the ledger's end in it "
            "(frame 1); run ledger verify",
        }[gone]
    )


@pytest.mark.parametrize("query", ["after=-1", "limit=0", "limit=1001", "after=x"])
def test_a_bad_position_or_limit_is_a_400_naming_it(api, query):
    reply = api.get(f"/api/v1/ledger/frames/?{query}")
    assert reply.status_code == 400
    assert reply.json()["details"][0]["field"] == query.split("=")[0]


def test_sealed_partitions_newest_first(api, settings):
    signals_framed_on(DAY, 2)
    signals_framed_on(DAY + timedelta(days=1), 1)
    seal.partitions_seal_due(now=DAY + timedelta(days=3))

    rows = api.get("/api/v1/ledger/partitions/").json()["results"]

    assert [(r["name"], r["frames"], r["tier"], r["sealed"]) for r in rows] == [
        ("2026-11-21", 1, "hot", True),
        ("2026-11-20", 2, "hot", True),
    ]
    assert len(rows[0]["chain_head"]) == 64 and len(rows[0]["manifest_sha256"]) == 64


def test_a_made_up_cursor_or_format_is_a_400_naming_it(api):
    assert api.get("/api/v1/ledger/partitions/?cursor=bm9wZQ").json()["details"][0]["field"] == "cursor"
    assert api.get("/api/v1/ledger/frames/?format=xml").json()["details"][0]["field"] == "format"


@pytest.mark.parametrize("sealed_days", [1, 3])
def test_partitions_and_the_feed_cost_the_same_queries_whatever_the_ledger_holds(
    api, sealed_days, django_assert_num_queries, view_get
):
    for day in range(sealed_days):
        signals_framed_on(DAY + timedelta(days=day), 2)
    seal.partitions_seal_due(now=DAY + timedelta(days=sealed_days + 2))
    signals_framed_on(DAY + timedelta(days=sealed_days + 2), 2)

    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/ledger/partitions/")["results"]) == sealed_days
    with django_assert_num_queries(2):  # where the writer ended, and the sealed partitions' frame counts
        frames = frames_after(0, 1000).frames
    assert len(frames) == 2 * sealed_days + 2


def test_ledger_tail_of_everything_is_the_feed_from_zero_across_every_tier(api, settings):
    """Cold and long-term partitions are the ledger too: tail read LEDGER_DIR only and printed
    none of their frames (the feed served them)."""
    settings.LEDGER_SEGMENT_MAX_FRAMES = 2
    old = DAY - timedelta(days=400)
    signals_framed_on(old, 3)  # goes to long-term storage
    signals_framed_on(DAY - timedelta(days=40), 2)  # goes to the archive (cold)
    signals_framed_on(DAY - timedelta(days=10), 2)  # warm
    signals_framed_on(DAY, 2)  # the writer's partition
    seal.partitions_seal_due(now=DAY)
    tiers.partitions_move_due(now=DAY)
    tiers.partitions_move_due(now=DAY)  # a second pass: compressed partitions are archived, then moved on
    assert sorted(p.name for p in settings.LEDGER_LONG_TERM_DIR.iterdir()) == [old.date().isoformat()]

    frames = follow(api, limit=3)

    assert [f["position"] for f in frames] == list(range(1, 10))
    assert [f["envelope"] for f in frames] == tail_everything()
    out = io.StringIO()
    call_command("ledger", "tail", "-n", "4", stdout=out)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [f["envelope"] for f in frames[-4:]]


def test_ledger_tail_prints_no_frame_past_the_recorded_end(api):
    """A frame a dying writer appended but never recorded may yet be cut: the feed holds it back,
    and so must tail."""
    signals_framed_on(DAY, 3)
    state = LedgerWriterState.objects.get()
    recorded = (state.last_sequence, state.offset, state.segment_frames)
    signals_framed_on(DAY, 2)
    LedgerWriterState.objects.update(last_sequence=recorded[0], offset=recorded[1], segment_frames=recorded[2])

    assert len(tail_everything()) == 3
    assert [f["envelope"] for f in follow(api, limit=10)] == tail_everything()


def test_a_sealed_partitions_last_segment_missing_stops_the_feed_with_a_503(api, settings):
    """Positions after it would all be wrong: the next partition's frames were served at the
    missing ones' positions."""
    settings.LEDGER_SEGMENT_MAX_FRAMES = 2
    signals_framed_on(DAY, 3)
    seal.partition_seal("2026-11-20", now=DAY + timedelta(days=2))
    signals_framed_on(DAY + timedelta(days=3), 2)
    (settings.LEDGER_DIR / "2026-11-20" / "signals-002.wal").unlink()
    frames_end = read_frames((settings.LEDGER_DIR / "2026-11-20" / "signals-001.wal").read_bytes()).frames[-1].end

    reply = api.get("/api/v1/ledger/frames/?after=1")

    assert reply.status_code == 503
    assert reply.json()["message"] == (
        f"2026-11-20/signals-001.wal@{frames_end}: the partition's frames end here, after 2; its manifest counts 3; "
        "run ledger verify"
    )


def test_ledger_tail_says_why_it_prints_nothing_of_a_ledger_this_database_did_not_write(settings):
    signals_framed_on(DAY, 2)
    LedgerWriterState.objects.all().delete()  # as a new database pointed at an existing LEDGER_DIR
    out, err = io.StringIO(), io.StringIO()

    call_command("ledger", "tail", stdout=out, stderr=err)

    assert out.getvalue() == ""
    assert "records no frame of the ledger in LEDGER_DIR" in err.getvalue()
