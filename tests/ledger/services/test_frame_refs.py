"""Frame references: one per committed frame, pointing at its bytes in whatever tier it lives in."""

from __future__ import annotations

import gzip
import shutil
import zlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from ledger.envelope import payload_hash, read_head
from ledger.layout import PartitionName
from ledger.models import LedgerFrameRef, LedgerPartition, Tier
from ledger.public import frame_verify, partitions_purge, signal_frames
from ledger.reading import ledger_segments, segment_data
from ledger.services import writer
from ledger.services.frame_refs import FRAME_REF_COLUMNS, ledger_directories
from ledger.services.reindex import ledger_reindex
from ledger.services.replay import ledger_replay
from ledger.services.seal import partition_seal
from ledger.services.tiers import partitions_move_due
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain, locked_ledger
from ledger.wal import HEADER, HEADER_SIZE, read_frames
from signals.models import ProbabilityPoint, Signal, SourceEvent
from signals.services.ingest import signals_ingest
from tests.support.factories import RawEventFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Old enough for each tier by the default ages (warm after 7 days, cold after 30, long-term after 365).
DAYS = {Tier.LONG_TERM: NOW - timedelta(days=400), Tier.COLD: NOW - timedelta(days=40),
        Tier.WARM: NOW - timedelta(days=10), Tier.HOT: NOW}  # fmt: skip


@pytest.fixture(autouse=True)
def drained_when_told(settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"  # each test drains at the moment it names
    settings.LEDGER_SEGMENT_MAX_FRAMES = 2


def ingest(count: int, **kwargs) -> list[str]:
    """``count`` new signals (queued for the ledger, not framed yet); their ids."""
    records = RawEventFactory.build_batch(count)
    signals_ingest(records=records, **kwargs)
    return list(
        Signal.objects.filter(source_event_id__in=[r.event_id for r in records]).values_list("signal_id", flat=True)
    )


def position(row: tuple) -> tuple:
    return PartitionName.parse(row[2]), row[6]


def frames_on_disk() -> list[tuple]:
    """What every frame's reference must say (``FRAME_REF_COLUMNS``), read from the segments of every tier."""
    rows = []
    for ref in ledger_segments(*ledger_directories()):
        for frame in read_frames(segment_data(ref.path)).frames:
            head = read_head(frame.payload)
            written_at = datetime.fromisoformat(orjson.loads(frame.payload)["ledger_written_at"])
            rows.append((head.signal_id, head.operation, str(ref.partition), ref.name, frame.offset, frame.length,
                         head.ledger_sequence, payload_hash(frame.payload), written_at))  # fmt: skip
    return rows


def stored_refs() -> list[tuple]:
    return sorted(LedgerFrameRef.objects.values_list(*FRAME_REF_COLUMNS), key=position)


def assert_one_reference_per_frame() -> int:
    on_disk = frames_on_disk()
    assert stored_refs() == on_disk
    return len(on_disk)


# --------------------------------------------------------------------------- the writer


def test_ingest_and_row_saves_get_one_reference_per_frame_across_segments_and_partitions():
    first = ingest(7, batch_size=3)
    ledger_drain(now=DAYS[Tier.WARM])
    edited = Signal.objects.get(signal_id=first[1])
    edited.title = "Edited by an operator"
    edited.contract = {**edited.contract, "title": "Edited by an operator"}
    edited.save()
    edited.delete()
    ingest(2)
    ledger_drain(now=NOW)

    assert assert_one_reference_per_frame() == 11
    assert len({(row[2], row[3]) for row in stored_refs()}) == 6  # 7 frames in 4 segments, then 4 in 2
    frames = signal_frames(first[1])
    assert [(frame.operation, frame.partition, frame.tier) for frame in frames] == [
        ("create", DAYS[Tier.WARM].date().isoformat(), Tier.HOT),
        ("update", NOW.date().isoformat(), Tier.HOT),
        ("delete", NOW.date().isoformat(), Tier.HOT),
    ]
    assert frames[0].written_at == DAYS[Tier.WARM] and frames[1].written_at == NOW
    assert ledger_verify().ok


def test_a_run_that_died_after_its_append_leaves_exactly_one_reference_per_frame():
    ingest(2)
    ledger_drain(now=NOW)
    ingest(5)

    # The append reaches the disk (across a segment rotation), then the process dies before its commit.
    with pytest.raises(RuntimeError), locked_ledger() as (_state, end):
        writer._append_batch(end, writer._pending_rows(100), NOW + timedelta(minutes=1))
        raise RuntimeError("killed before commit")
    assert LedgerFrameRef.objects.count() == 2  # the references rolled back with the end
    assert len(frames_on_disk()) == 7

    result = ledger_drain(now=NOW + timedelta(minutes=2))

    assert (result.adopted, result.frames) == (5, 0)
    assert assert_one_reference_per_frame() == 7
    # Adopted frames keep the write time the dead run put in their envelopes.
    assert {row[8] for row in stored_refs()[2:]} == {NOW + timedelta(minutes=1)}
    assert ledger_verify().ok


# --------------------------------------------------------------------------- frame_verify


@pytest.fixture
def tiers() -> dict[str, list[str]]:
    """Signal ids framed on a day of each tier, in write order, moved there by the tier tasks: three
    frames a day, so each day has a segment of two frames and one of one."""
    for tier, moment in DAYS.items():
        ingest(3)
        ledger_drain(now=moment)
        if tier != Tier.HOT:
            partition_seal(moment.date().isoformat(), now=moment + timedelta(days=1))
    partitions_move_due(now=NOW)
    written = stored_refs()  # in write order
    return {tier: [row[0] for row in written if row[2] == moment.date().isoformat()] for tier, moment in DAYS.items()}


@pytest.mark.parametrize("tier", [Tier.HOT, Tier.WARM, Tier.COLD, Tier.LONG_TERM])
def test_frame_verify_reads_a_frame_back_from_its_tier(tiers, tier):
    first, second, third = (signal_frames(signal_id) for signal_id in tiers[tier])

    checks = [frame_verify(frame) for (frame,) in (first, second, third)]

    assert {frame.tier for (frame,) in (first, second, third)} == {tier}
    assert [(check.ok, check.tier) for check in checks] == [(True, tier)] * 3
    assert checks[0].detail.startswith(f"intact: {first[0].partition}/signals-001.wal@0 ({tier}, ")
    assert "link to the frame before it was not checked: that frame ends the previous segment" in checks[0].detail
    assert "prev_hash is the hash of the frame before it (at offset 0)" in checks[1].detail
    assert checks[2].path.endswith("signals-002.wal" if tier == Tier.HOT else "signals-002.wal.gz")


def test_a_segment_caught_between_two_places_is_read_from_the_younger_one(tiers, settings, ledger_dir):
    (moving,) = signal_frames(tiers[Tier.LONG_TERM][0])
    (compressing,) = signal_frames(tiers[Tier.WARM][0])
    # A move to long-term storage that has renamed its copy into place and not yet removed the
    # original; a compression that has renamed the .gz into place and not yet removed the raw file.
    shutil.copytree(settings.LEDGER_LONG_TERM_DIR / moving.partition, settings.LEDGER_ARCHIVE_DIR / moving.partition)
    raw = ledger_dir / compressing.partition / compressing.segment
    raw.write_bytes(segment_data(raw.with_name(f"{raw.name}.gz")))

    checks = [frame_verify(moving), frame_verify(compressing)]

    assert [(check.ok, check.tier) for check in checks] == [(True, Tier.COLD), (True, Tier.HOT)]
    shutil.rmtree(settings.LEDGER_ARCHIVE_DIR / moving.partition)
    raw.unlink()
    checks = [frame_verify(moving), frame_verify(compressing)]
    assert [(check.ok, check.tier) for check in checks] == [(True, Tier.LONG_TERM), (True, Tier.WARM)]


def damaged(path, change) -> None:
    """Apply ``change`` to a segment's raw bytes, compressed again if it was."""
    data = bytearray(segment_data(path))
    change(data)
    path.write_bytes(gzip.compress(bytes(data)) if path.name.endswith(".gz") else bytes(data))


@pytest.mark.parametrize("tier", [Tier.HOT, Tier.WARM])
def test_a_flipped_payload_byte_fails_the_check_and_says_so(tiers, tier):
    (frame,) = signal_frames(tiers[tier][1])
    path = ledger_directories()[0] / frame.partition / frame.segment
    path = path if path.exists() else path.with_name(f"{frame.segment}.gz")

    def flip(data: bytearray) -> None:
        data[frame.offset + HEADER_SIZE + 30] ^= 0x01

    damaged(path, flip)
    check = frame_verify(frame)

    assert not check.ok and check.tier == tier
    assert check.detail == (
        f"DAMAGED: {frame.partition}/{frame.segment}@{frame.offset} ({tier}, {path}): its payload does not "
        "match its CRC: the frame's bytes changed on disk"
    )


def test_a_frame_rewritten_with_its_crc_fails_on_its_hash_and_the_next_one_on_its_link(tiers):
    first, second = (signal_frames(signal_id)[0] for signal_id in tiers[Tier.HOT][:2])
    path = ledger_directories()[0] / first.partition / first.segment

    def rewrite(data: bytearray) -> None:  # same length, CRC recomputed: only the chain shows it
        start = first.offset + HEADER_SIZE
        payload = bytes(data[start : start + first.length]).replace(b'"create"', b'"CREATE"', 1)
        data[first.offset : start] = HEADER.pack(first.length, zlib.crc32(payload))
        data[start : start + first.length] = payload

    damaged(path, rewrite)

    assert "not to the chain hash" in frame_verify(first).detail
    check = frame_verify(second)
    assert not check.ok
    assert "prev_hash is not the hash of the frame before it (at offset 0)" in check.detail


def test_a_purge_removes_the_references_and_a_reference_kept_from_before_says_purged(settings):
    old = NOW - timedelta(days=3000)
    gone = ingest(2)
    ledger_drain(now=old)
    partition_seal(old.date().isoformat(), now=old + timedelta(days=1))
    Signal.objects.filter(signal_id__in=gone).delete()  # their delete frames: today's partition
    ledger_drain(now=NOW)
    partitions_move_due(now=NOW)
    (before,) = [frame for frame in signal_frames(gone[0]) if frame.operation == "create"]
    assert before.tier == Tier.LONG_TERM

    result = partitions_purge(NOW - timedelta(days=2557), now=NOW)

    assert result.purged == 1
    assert not LedgerFrameRef.objects.filter(partition=before.partition).exists()
    assert [frame.operation for frame in signal_frames(gone[0])] == ["delete"]
    check = frame_verify(before)
    tombstone = settings.LEDGER_LONG_TERM_DIR / f"{before.partition}.tombstone.json"
    assert (check.ok, check.tier, check.detail) == (
        False,
        Tier.PURGED,
        f"purged: only its tombstone remains ({tombstone})",
    )
    assert ledger_verify().ok


# --------------------------------------------------------------------------- rebuilding them


def test_reindex_rebuilds_the_references_the_writer_wrote_in_every_tier(tiers):
    written = stored_refs()
    first = LedgerFrameRef.objects.order_by("id").first()
    LedgerFrameRef.objects.filter(pk=first.pk).update(offset=first.offset + 1)  # a wrong one
    LedgerFrameRef.objects.filter(segment="signals-002.wal").delete()  # missing ones
    LedgerFrameRef.objects.create(  # one of a partition that is not on disk
        signal_id="gone", operation="create", partition="2020-01-01", segment="signals-001.wal", offset=0,
        length=1, sequence=(1 << 32) + 1, payload_sha256="0" * 64, written_at=NOW,
    )  # fmt: skip
    report = ledger_verify()
    assert sorted(problem.where for problem in report.problems) == [f"frame references of {day}" for day in sorted(
        ["2020-01-01", *(moment.date().isoformat() for moment in DAYS.values())]
    )]  # fmt: skip
    assert all("run `manage.py ledger reindex`" in problem.what for problem in report.problems)

    call_command("ledger", "reindex")

    assert stored_refs() == written == frames_on_disk()
    assert ledger_verify().ok
    again = ledger_reindex()
    assert (again.partitions, again.segments, again.frames, again.replaced, again.removed) == (4, 8, 12, 12, 0)
    assert again.problems == []
    assert stored_refs() == written


def test_replay_rebuilds_the_references_of_the_frames_it_replays():
    ingest(4)
    ledger_drain(now=DAYS[Tier.WARM])
    Signal.objects.order_by("pk").first().delete()
    ledger_drain(now=NOW)
    written = stored_refs()
    with transaction.atomic(), connection.cursor() as cursor:  # a new database: rows gone, no receiver run
        for model in (ProbabilityPoint, Signal, SourceEvent):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")

    ledger_replay(ledger_directories()[0])

    assert stored_refs() == written == frames_on_disk()


# --------------------------------------------------------------------------- the signal page


def test_the_signal_pages_lookup_is_one_query_by_the_signal_id_index(tiers, django_assert_num_queries):
    sealed = LedgerPartition.objects.get(name=DAYS[Tier.COLD].date().isoformat())
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with django_assert_num_queries(1), connection.execute_wrapper(keep):
        (frame,) = signal_frames(tiers[Tier.COLD][0])

    assert (frame.partition, frame.tier) == (sealed.name, sealed.tier)
    sql, params = statements[0]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET enable_seqscan = off")  # a table this small is read whole otherwise
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "frameref_signal_idx" in plan, plan
