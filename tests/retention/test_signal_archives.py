"""Expired signals: archived to their day's file, verified, deleted with a delete frame each, restorable."""

import gzip
import hashlib
import logging
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from ledger.models import LedgerOutbox
from ledger.reading import ledger_segments, read_segment
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from retention.models import LegalHold, SignalArchive
from retention.services import archive, archive_read
from retention.services import restore as restore_module
from retention.services import sweep as sweep_module
from retention.services.restore import restore_archive
from retention.services.status import policy_status
from retention.services.sweep import sweep
from signals.models import Signal, SourceEvent
from tests.support.factories import RawEventFactory, SignalFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY_1 = datetime(2026, 3, 10, tzinfo=UTC)
KEEP = timedelta(days=90)
SECOND = timedelta(seconds=1)


def signal_at(moment, **event):
    return SignalFactory(raw_event=RawEventFactory(observed_at=moment, **event))


def archived_lines(day) -> list[dict]:
    with gzip.open(archive.day_path(day), "rb") as lines:
        return [orjson.loads(line) for line in lines]


def archived_restored_and_one_changed(*external_ids):
    """Two signals of DAY_1 swept, their day restored, and the first one's contract changed since."""
    changed, untouched = (signal_at(DAY_1 + n * SECOND, external_id=e) for n, e in enumerate(external_ids))
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    restore_archive(DAY_1.date())
    signal = Signal.objects.get(signal_id=changed.signal_id)
    signal.contract = {**signal.contract, "title": "Corrected after the restore"}
    signal.save()
    return changed, untouched


def assert_ledger_reconciles():
    report = ledger_verify(contents=True)
    assert report.ok, report.problems
    assert report.signals == Signal.objects.count()
    assert not LedgerOutbox.objects.exists()


def test_a_signal_is_archived_then_deleted_when_it_expires_and_not_before():
    signal = signal_at(DAY_1 + timedelta(hours=12))
    stored_contract = Signal.objects.filter(pk=signal.pk).values_list("contract", flat=True).get()
    boundary = signal.generated_at + KEEP

    (before,) = sweep(["signals"], now=boundary - SECOND)
    assert Signal.objects.filter(pk=signal.pk).exists() and before.counted == 0
    assert not archive.day_path(DAY_1.date()).exists()

    (after,) = sweep(["signals"], now=boundary + SECOND)

    assert not Signal.objects.exists()
    assert (after.counted, after.archived, after.deleted) == (1, 1, 1)
    (line,) = archived_lines(DAY_1.date())
    assert line["signal_id"] == signal.signal_id and orjson.loads(line["contract"]) == stored_contract
    manifest = SignalArchive.objects.get(day=DAY_1.date())
    assert manifest.rows == 1
    assert manifest.sha256 == hashlib.sha256(archive.day_path(DAY_1.date()).read_bytes()).hexdigest()
    assert_ledger_reconciles()  # a create frame, then a delete frame


def test_an_archived_line_holds_the_signal_as_the_database_has_it_whatever_its_text():
    # Each backend reads the row its own way (PostgreSQL: a binary COPY): the line must say what
    # the row says, for text that needs escaping and for a time on a whole second as for one
    # with microseconds, in isoformat's UTC form.
    whole_second = signal_at(DAY_1 + timedelta(hours=1))
    fraction = signal_at(DAY_1 + timedelta(hours=2, microseconds=120), external_id="551100")
    edited = Signal.objects.get(pk=fraction.pk)
    edited.contract = {**edited.contract, "title": 'Tanker "Nord" \\ naïve 東京\nnew line\ttab \u0001'}
    edited.save()
    rows = Signal.objects.values_list(
        "signal_id", "generated_at", "created_at", "source", "event__source", "event__external_id",
        Cast("contract", TextField()),
    )  # fmt: skip
    expected = {row[0]: row for row in rows}

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert (run.status, run.deleted) == ("ok", 2), run.error
    lines = archived_lines(DAY_1.date())
    assert {line["signal_id"] for line in lines} == {whole_second.signal_id, fraction.signal_id}
    for line in lines:
        signal_id, generated_at, created_at, source, event_source, external_id, contract = expected[line["signal_id"]]
        assert datetime.fromisoformat(line["generated_at"]) == generated_at
        assert datetime.fromisoformat(line["created_at"]) == created_at
        assert (line["source"], line["event"], line["contract"]) == (source, [event_source, external_id], contract)
    assert "東京" in orjson.loads(expected[fraction.signal_id][6])["title"]
    raw = gzip.decompress(archive.day_path(DAY_1.date()).read_bytes())
    assert b'"generated_at":"2026-03-10T01:00:00+00:00"' in raw
    assert b'"generated_at":"2026-03-10T02:00:00.000120+00:00"' in raw
    restored = restore_archive(DAY_1.date())
    assert restored.restored == 2
    assert dict(Signal.objects.values_list("signal_id", Cast("contract", TextField()))) == {
        signal_id: row[6] for signal_id, row in expected.items()
    }


def test_with_more_events_than_it_keeps_the_sweep_reads_each_days_events(monkeypatch):
    monkeypatch.setattr(archive_read.EventKeys, "LIMIT", 1)
    signals = [signal_at(DAY_1 + timedelta(days=day, hours=1), external_id=f"55110{day}") for day in range(3)]

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=3) + KEEP)

    assert (run.status, run.deleted) == ("ok", 3), run.error
    for day, signal in enumerate(signals):
        (line,) = archived_lines((DAY_1 + timedelta(days=day)).date())
        assert (line["signal_id"], line["event"]) == (signal.signal_id, [signal.source, f"55110{day}"])


def test_a_signal_whose_event_is_newer_than_the_sweeps_read_of_events_waits_for_the_next_sweep():
    first = signal_at(DAY_1 + timedelta(hours=1))
    keys = archive_read.EventKeys()
    keys.for_rows(Signal.objects.all())  # the sweep read the events table whole
    later = signal_at(DAY_1 + timedelta(hours=2), external_id="551109")  # a partner's, pushed meanwhile

    read = [signal.identity.signal_id for signal, _ in archive_read.expired_signals(Signal.objects.all(), keys)]

    assert read == [first.signal_id]
    assert later.signal_id in [
        s.identity.signal_id for s, _ in archive_read.expired_signals(Signal.objects.all(), archive_read.EventKeys())
    ]


def test_a_day_larger_than_a_pass_is_archived_and_deleted_in_parts_into_one_file(monkeypatch):
    monkeypatch.setattr(sweep_module, "DAY_PART", 2)
    signals = [signal_at(DAY_1 + timedelta(hours=hour), external_id=f"55130{hour}") for hour in range(4)]
    files = []  # the day's file as each part left it
    add = archive.DayFile.add

    def add_and_keep(day_file, lines, **options):
        added = add(day_file, lines, **options)
        files.append(archive.day_path(day_file.day).read_bytes())
        return added

    monkeypatch.setattr(archive.DayFile, "add", add_and_keep)

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert (run.status, run.archived, run.deleted) == ("ok", 4, 4), run.error
    assert len(files) == 2  # two full parts, and no empty third
    # The second part's lines went before the first part's bytes, copied, not compressed again.
    assert files[1].endswith(files[0]) and len(files[1]) > len(files[0])
    assert sorted(line["signal_id"] for line in archived_lines(DAY_1.date())) == sorted(s.signal_id for s in signals)
    assert SignalArchive.objects.get(day=DAY_1.date()).rows == 4
    assert SignalArchive.objects.get(day=DAY_1.date()).sha256 == hashlib.sha256(files[1]).hexdigest()
    assert_ledger_reconciles()


def test_a_signal_given_again_by_a_later_part_keeps_one_line_the_newest():
    # As when `ledger import` puts back a signal an earlier part of the sweep deleted: a new pk, so
    # a later part of the same day reads it again.
    def line(signal_id, version):
        return signal_id, orjson.dumps({"signal_id": signal_id, "version": version}) + b"\n"

    day_file = archive.DayFile(DAY_1.date())
    assert day_file.add([line("OMEN-A", 1), line("OMEN-B", 1)]) == {"OMEN-A", "OMEN-B"}
    assert day_file.add([line("OMEN-A", 2), line("OMEN-C", 1)]) == {"OMEN-A", "OMEN-C"}

    lines = archived_lines(DAY_1.date())
    assert sorted((line["signal_id"], line["version"]) for line in lines) == [
        ("OMEN-A", 2),
        ("OMEN-B", 1),
        ("OMEN-C", 1),
    ]
    assert SignalArchive.objects.get(day=DAY_1.date()).rows == 3


def test_a_part_with_no_lines_leaves_the_days_file_as_it_is():
    day_file = archive.DayFile(DAY_1.date())
    day_file.add([("OMEN-A", orjson.dumps({"signal_id": "OMEN-A"}) + b"\n")])
    before = archive.day_path(DAY_1.date()).read_bytes()

    assert day_file.add([]) == set()
    assert archive.DayFile((DAY_1 + timedelta(days=1)).date()).add([]) == set()

    assert archive.day_path(DAY_1.date()).read_bytes() == before
    assert not archive.day_path((DAY_1 + timedelta(days=1)).date()).exists()
    assert list(SignalArchive.objects.values_list("day", "rows")) == [(DAY_1.date(), 1)]
    assert not list(archive.day_path(DAY_1.date()).parent.glob("*.new"))


def test_a_signal_whose_old_line_went_early_and_whose_part_passes_it_over_stays_in_the_database(monkeypatch):
    # A killed sweep wrote the day's file and deleted nothing. Swept again in parts of one, the
    # first part drops the old lines of the signals later parts bring; the later part then passes
    # one over (its source event unknown to the sweep's read of the events): it stays, lineless.
    monkeypatch.setattr(sweep_module, "DAY_PART", 1)
    first, passed_over = signal_at(DAY_1, external_id="552131"), signal_at(DAY_1 + SECOND, external_id="552132")
    with closing(archive_read.expired_signals(Signal.objects.all(), archive_read.EventKeys())) as rows:
        archive.DayFile(DAY_1.date()).add((signal.identity.signal_id, line) for signal, line in rows)
    assert len(archived_lines(DAY_1.date())) == 2
    for_rows = archive_read.EventKeys.for_rows

    def without_its_event(keys, rows):
        return {pk: key for pk, key in for_rows(keys, rows).items() if pk != passed_over.event_id}

    monkeypatch.setattr(archive_read.EventKeys, "for_rows", without_its_event)

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert (run.status, run.deleted) == ("ok", 1), run.error
    assert list(Signal.objects.values_list("signal_id", flat=True)) == [passed_over.signal_id]
    assert [line["signal_id"] for line in archived_lines(DAY_1.date())] == [first.signal_id]
    assert SignalArchive.objects.get(day=DAY_1.date()).rows == 1
    assert_ledger_reconciles()


def test_restored_signals_swept_again_in_parts_each_keep_one_line_the_newest(monkeypatch):
    monkeypatch.setattr(sweep_module, "DAY_PART", 1)  # a part per signal: restored and new ones alike
    changed, untouched = archived_restored_and_one_changed("552111", "552112")
    new = [signal_at(DAY_1 + n * timedelta(hours=1), external_id=f"55212{n}") for n in (3, 4)]
    reads = []
    read_lines = archive._read_lines
    monkeypatch.setattr(archive, "_read_lines", lambda path: reads.append(path) or read_lines(path))

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=2) + KEEP)

    assert (run.status, run.deleted) == ("ok", 4), run.error
    # The file's ids once, then its old lines once: the first restored signal's part drops the
    # other's old line too (both come before the new signals by pk), so the other's part copies.
    assert len(reads) == 2
    lines = archived_lines(DAY_1.date())
    by_id = {line["signal_id"]: orjson.loads(line["contract"]) for line in lines}
    assert len(lines) == 4 and by_id.keys() == {changed.signal_id, untouched.signal_id, *(s.signal_id for s in new)}
    assert by_id[changed.signal_id]["title"] == "Corrected after the restore"
    assert SignalArchive.objects.get(day=DAY_1.date()).rows == 4
    assert_ledger_reconciles()


def test_one_file_per_day_and_a_later_sweep_adds_to_it():
    first = signal_at(DAY_1 + timedelta(hours=1))
    second = signal_at(DAY_1 + timedelta(hours=20), external_id="551100")
    next_day = signal_at(DAY_1 + timedelta(days=1, hours=3), external_id="551101")

    sweep(["signals"], now=DAY_1 + timedelta(hours=2) + KEEP)  # the first only
    assert [line["signal_id"] for line in archived_lines(DAY_1.date())] == [first.signal_id]
    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=2) + KEEP)

    assert run.deleted == 2 and not Signal.objects.exists()
    assert {line["signal_id"] for line in archived_lines(DAY_1.date())} == {first.signal_id, second.signal_id}
    assert [line["signal_id"] for line in archived_lines((DAY_1 + timedelta(days=1)).date())] == [next_day.signal_id]
    assert SignalArchive.objects.get(day=DAY_1.date()).rows == 2
    assert_ledger_reconciles()


def test_held_signals_stay_out_of_the_archive_and_in_the_database():
    held = signal_at(DAY_1)
    by_source = signal_at(
        DAY_1 + SECOND, source="yahoo", external_id="ACME-2026031000", event_id="stock-ACME-2026031000"
    )
    gone = signal_at(DAY_1 + 2 * SECOND, external_id="551102")
    LegalHold.objects.create(signal_id=held.signal_id, reason="audit")
    LegalHold.objects.create(source="yahoo", reason="audit")

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert set(Signal.objects.values_list("signal_id", flat=True)) == {held.signal_id, by_source.signal_id}
    assert [line["signal_id"] for line in archived_lines(DAY_1.date())] == [gone.signal_id]
    assert (run.counted, run.archived, run.deleted, run.skipped_on_hold) == (3, 1, 1, 2)


def test_a_dry_run_writes_no_archive_and_deletes_nothing():
    signal_at(DAY_1)

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP, dry_run=True)

    assert (run.counted, run.archived, run.deleted) == (1, 0, 0)
    assert Signal.objects.count() == 1 and not archive.day_path(DAY_1.date()).exists()


def test_restoring_a_day_puts_its_signals_back_once_each_with_a_create_frame():
    signals = [signal_at(DAY_1 + n * SECOND, external_id=f"55200{n}") for n in range(3)]
    stored = {s.signal_id: Signal.objects.filter(pk=s.pk).values_list("contract", flat=True).get() for s in signals}
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    assert not Signal.objects.exists()

    first = restore_archive(DAY_1.date())
    again = restore_archive(DAY_1.date())

    assert (first.in_archive, first.restored, again.restored, again.present) == (3, 3, 0, 3)
    assert dict(Signal.objects.values_list("signal_id", "contract")) == stored
    assert_ledger_reconciles()


def test_a_restored_signal_changed_then_swept_again_has_its_new_line_in_place_of_the_old():
    changed, untouched = archived_restored_and_one_changed("552101", "552102")

    sweep(["signals"], now=DAY_1 + timedelta(days=2) + KEEP)

    lines = {line["signal_id"]: orjson.loads(line["contract"]) for line in archived_lines(DAY_1.date())}
    assert len(archived_lines(DAY_1.date())) == 2 and lines.keys() == {changed.signal_id, untouched.signal_id}
    assert lines[changed.signal_id]["title"] == "Corrected after the restore"
    assert SignalArchive.objects.get(day=DAY_1.date()).rows == 2
    assert_ledger_reconciles()


def test_an_archive_that_fails_its_checksum_stops_the_days_deletes_and_restore():
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    path = archive.day_path(DAY_1.date())
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    later = signal_at(DAY_1 + timedelta(hours=1), external_id="551103")

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert run.status == "failed" and "does not match the SHA-256" in run.error
    assert Signal.objects.filter(pk=later.pk).exists()
    with pytest.raises(CommandError, match="does not match") as refused:
        call_command("retention", "restore-archive", DAY_1.date().isoformat())
    assert refused.value.returncode == 2


def test_a_rewrite_killed_after_its_manifest_is_finished_by_the_next_reader():
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    final = archive.day_path(DAY_1.date())
    # As if killed between the manifest's update and the rename: the recorded file waits as .new.
    pending = final.with_name(final.name + ".new")
    final.rename(pending)
    final.write_bytes(b"an older version")

    assert archive.verified_file(DAY_1.date()) == final
    assert not pending.exists() and len(archived_lines(DAY_1.date())) == 1


def test_archive_files_go_after_their_own_policy_unless_they_hold_a_held_signal():
    signal_at(DAY_1)
    # As Yahoo names them: the event id is not "<source>-<external id>" (stock-ACME-2026031012).
    held = signal_at(
        DAY_1 + timedelta(days=1), source="yahoo", external_id="ACME-2026031012", event_id="stock-ACME-2026031012"
    )
    sweep(["signals"], now=DAY_1 + timedelta(days=2) + KEEP)
    LegalHold.objects.create(source="yahoo", reason="late request: already archived")
    boundary = datetime.combine(DAY_1.date() + timedelta(days=1), datetime.min.time(), UTC) + timedelta(days=366)

    (before,) = sweep(["signal_archives"], now=boundary - SECOND)
    assert before.deleted == 0 and archive.day_path(DAY_1.date()).exists()
    (after,) = sweep(["signal_archives"], now=boundary + timedelta(days=1) + SECOND)

    assert not archive.day_path(DAY_1.date()).exists()
    assert archive.day_path(held.generated_at.date()).exists()
    assert (after.counted, after.deleted, after.skipped_on_hold) == (2, 1, 1)
    assert list(SignalArchive.objects.values_list("day", flat=True)) == [held.generated_at.date()]


def test_a_partners_signal_goes_after_30_days_and_a_polled_one_stays():
    pushed = SignalFactory(raw_event=RawEventFactory(observed_at=DAY_1), pushed=True)
    polled = signal_at(DAY_1 + SECOND, external_id="551104")
    boundary = pushed.generated_at + timedelta(days=30)
    assert_ledger_reconciles()  # the mark is the row's own, not a column that copies the contract

    (before,) = sweep(["partner_signals"], now=boundary - SECOND)
    assert Signal.objects.count() == 2 and before.counted == 0
    (after,) = sweep(["partner_signals"], now=boundary + SECOND)

    assert list(Signal.objects.values_list("signal_id", flat=True)) == [polled.signal_id]
    assert (after.counted, after.archived, after.deleted) == (1, 1, 1)
    assert [line["signal_id"] for line in archived_lines(DAY_1.date())] == [pushed.signal_id]
    assert_ledger_reconciles()


def test_a_partners_signal_kept_longer_than_the_signals_policy_follows_its_own_policy(settings):
    settings.RETENTION_KEEP = {"partner_signals": "365d"}
    pushed = SignalFactory(raw_event=RawEventFactory(observed_at=DAY_1), pushed=True)
    polled = signal_at(DAY_1 + SECOND, external_id="551104")
    after_the_signals_policy = DAY_1 + timedelta(days=1) + KEEP
    assert {row.policy.name: row.expired for row in policy_status(after_the_signals_policy)}["signals"] == 1

    runs = {run.policy: run for run in sweep(["signals", "partner_signals"], now=after_the_signals_policy)}

    assert list(Signal.objects.values_list("signal_id", flat=True)) == [pushed.signal_id]
    assert (runs["signals"].counted, runs["signals"].deleted) == (1, 1)
    assert runs["partner_signals"].counted == 0
    assert [line["signal_id"] for line in archived_lines(DAY_1.date())] == [polled.signal_id]
    assert_ledger_reconciles()

    (after,) = sweep(["partner_signals"], now=pushed.generated_at + timedelta(days=365) + SECOND)

    assert not Signal.objects.exists()
    assert (after.counted, after.archived, after.deleted) == (1, 1, 1)
    assert {line["signal_id"] for line in archived_lines(DAY_1.date())} == {polled.signal_id, pushed.signal_id}
    assert_ledger_reconciles()  # the partner's signal: its create frame, then its delete frame

    call_command("retention", "restore-archive", DAY_1.date().isoformat())

    # Back under its own policy: the line said it was pushed (the contract does not).
    assert dict(Signal.objects.values_list("signal_id", "pushed")) == {pushed.signal_id: True, polled.signal_id: False}
    # And its create frame says so (framed from memory, the drain on commit): a replay keeps the mark.
    ledger_drain()
    envelopes = [
        orjson.loads(frame.payload)
        for ref in ledger_segments(settings.LEDGER_DIR)
        for frame in read_segment(ref).frames
    ]
    last_create = {
        envelope["signal_id"]: envelope.get("pushed") for envelope in envelopes if envelope["operation"] == "create"
    }
    assert last_create == {pushed.signal_id: True, polled.signal_id: None}


def test_an_archived_signal_is_held_by_its_source_event_as_the_database_names_it():
    signal_at(DAY_1, source="yahoo", external_id="ACME-2026031000", event_id="stock-ACME-2026031000")
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    event = SourceEvent.objects.get(source="yahoo", external_id="ACME-2026031000")
    LegalHold.objects.create(source_event=event, reason="the event, after its signals were archived")

    (run,) = sweep(["signal_archives"], now=DAY_1 + timedelta(days=400))

    assert (run.deleted, run.skipped_on_hold) == (0, 1) and archive.day_path(DAY_1.date()).exists()


def test_a_day_whose_expired_signals_are_all_held_gets_no_file():
    held = signal_at(DAY_1)
    LegalHold.objects.create(signal_id=held.signal_id, reason="audit")

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert (run.status, run.counted, run.skipped_on_hold, run.deleted) == ("ok", 1, 1, 0)
    assert not archive.day_path(DAY_1.date()).exists() and not SignalArchive.objects.exists()


def test_a_damaged_day_keeps_its_signals_and_the_other_days_are_still_swept():
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    path = archive.day_path(DAY_1.date())
    path.write_bytes(path.read_bytes()[::-1])
    stuck = signal_at(DAY_1 + timedelta(hours=2), external_id="551105")
    next_day = signal_at(DAY_1 + timedelta(days=1), external_id="551106")

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=2) + KEEP)

    assert run.status == "failed" and str(DAY_1.date()) in run.error
    assert list(Signal.objects.values_list("signal_id", flat=True)) == [stuck.signal_id]
    assert next_day.signal_id in {line["signal_id"] for line in archived_lines(next_day.generated_at.date())}


BAD_LINES = [b"not json\n", b'{"id": "OMEN-A"}\n', b"[1, 2]\n", b'{"signal_id": 7}\n']


def vouched_day_file(day, lines: bytes):
    """A day file its manifest vouches for, written by something other than a sweep."""
    path = archive.day_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(lines, mtime=0))
    SignalArchive.objects.create(
        day=day,
        path=str(path.relative_to(archive.archive_root())),
        rows=lines.count(b"\n"),
        bytes=path.stat().st_size,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        written_at=DAY_1,
    )
    return path


@pytest.mark.parametrize("bad_line", BAD_LINES)
def test_a_day_file_with_a_line_that_names_no_signal_keeps_its_day_and_says_where(bad_line):
    # The day keeps its signals, the error names the file and the line, and the other days are swept.
    path = vouched_day_file(DAY_1.date(), orjson.dumps({"signal_id": "OMEN-A"}) + b"\n" + bad_line)

    assert_the_day_stays_and_the_next_is_swept(f"{path}, line 2", external_ids=("551141", "551142"))


def assert_the_day_stays_and_the_next_is_swept(named: str, external_ids: tuple[str, str]) -> None:
    """A sweep over DAY_1, whose file is damaged, and the day after: the run fails naming ``named``,
    DAY_1's signal stays in the database, and the next day's is archived."""
    stuck = signal_at(DAY_1 + timedelta(hours=2), external_id=external_ids[0])
    next_day = signal_at(DAY_1 + timedelta(days=1), external_id=external_ids[1])

    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=2) + KEEP)

    assert run.status == "failed" and named in run.error, run.error
    assert list(Signal.objects.values_list("signal_id", flat=True)) == [stuck.signal_id]
    assert next_day.signal_id in {line["signal_id"] for line in archived_lines(next_day.generated_at.date())}


def a_swept_line() -> bytes:
    """A signal of DAY_1 swept, its day file's one line; the file and its manifest entry removed."""
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    swept = archive.day_path(DAY_1.date())
    with gzip.open(swept, "rb") as lines:
        (line,) = list(lines)
    swept.unlink()
    SignalArchive.objects.all().delete()
    return line


@pytest.mark.parametrize("bad_line", [*BAD_LINES, b'{"signal_id": "OMEN-B", "event": ["x", "1"]}\n'])
def test_a_line_that_is_no_archived_signal_is_named_by_restore_and_by_the_archives_policy(bad_line, monkeypatch):
    monkeypatch.setattr(restore_module, "_CHUNK", 1)  # the good first line would be a chunk of its own
    path = vouched_day_file(DAY_1.date(), a_swept_line() + bad_line)

    with pytest.raises(CommandError, match=rf"{path}, line 2, is not an archived signal") as refused:
        call_command("retention", "restore-archive", DAY_1.date().isoformat())
    assert refused.value.returncode == 2
    assert not Signal.objects.exists()  # none of the day came back: not a half-restored day
    # The archives policy reads a file only to look for held signals.
    LegalHold.objects.create(source="nobody", reason="makes the policy read the files")
    (run,) = sweep(["signal_archives"], now=DAY_1 + timedelta(days=800))
    assert run.status == "failed" and f"{path}, line 2" in run.error, run.error
    assert path.exists()


def vouch_for(path):
    """The day file at ``path``, as it now is, made the one its manifest records (checksum and size)."""
    SignalArchive.objects.filter(path=str(path.relative_to(archive.archive_root()))).update(
        bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest()
    )


def cut_short(compressed: bytes) -> bytes:
    return compressed[: len(compressed) - 12]


def written_over(compressed: bytes) -> bytes:
    return b"not gzip at all\n" + compressed


def deflate_scrambled(compressed: bytes) -> bytes:
    return compressed[:10] + bytes(byte ^ 0x5A for byte in compressed[10:-8]) + compressed[-8:]


@pytest.mark.parametrize("damage", [cut_short, written_over, deflate_scrambled])
def test_a_day_file_that_is_not_whole_gzip_is_damaged_for_restore_and_sweep_naming_it(damage):
    path = vouched_day_file(DAY_1.date(), a_swept_line() * 2)
    path.write_bytes(damage(path.read_bytes()))
    vouch_for(path)

    with pytest.raises(CommandError, match=rf"{path} is not whole gzip after line \d+ \(") as refused:
        call_command("retention", "restore-archive", DAY_1.date().isoformat())
    assert refused.value.returncode == 2 and not Signal.objects.exists()
    assert_the_day_stays_and_the_next_is_swept(f"{path} is not whole gzip", external_ids=("551143", "551144"))


@pytest.mark.parametrize(
    ("contract", "field"), [("not json", "contract: not JSON"), ('{"signal_id": "OMEN-B"}', "line 2: ")]
)
def test_a_line_whose_contract_cannot_make_a_signal_stops_restore_before_any_of_the_day_is_back(
    monkeypatch, contract, field
):
    monkeypatch.setattr(restore_module, "_CHUNK", 1)  # the good first line would be a chunk of its own
    line = a_swept_line()
    unusable = {**orjson.loads(line), "signal_id": "OMEN-B", "contract": contract}
    vouched_day_file(DAY_1.date(), line + orjson.dumps(unusable) + b"\n")

    with pytest.raises(CommandError, match="a line cannot make a signal: line 2: ") as refused:
        call_command("retention", "restore-archive", DAY_1.date().isoformat())

    assert field in str(refused.value)
    assert not Signal.objects.exists()


def test_a_file_the_disk_changed_before_the_read_back_is_refused_and_nothing_is_deleted(monkeypatch):
    kept = signal_at(DAY_1)
    fsync_directory = archive.fsync_path

    def disk_flips_a_byte(path):
        for written in path.glob("*.new"):  # after the file's own fsync, before its read-back
            data = bytearray(written.read_bytes())
            data[len(data) // 2] ^= 0xFF
            written.write_bytes(bytes(data))
        fsync_directory(path)

    monkeypatch.setattr(archive, "fsync_path", disk_flips_a_byte)
    (run,) = sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)

    assert run.status == "failed" and "did not read back as written" in run.error
    assert list(Signal.objects.values_list("signal_id", flat=True)) == [kept.signal_id]
    assert not SignalArchive.objects.exists()
    assert run.deleted == 0


def test_the_gzip_writes_every_line_in_order_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(archive._Gzip, "CHUNK_BYTES", 64)
    lines = [orjson.dumps({"signal_id": f"OMEN-{n:012X}", "n": n}) + b"\n" for n in range(500)]
    path = tmp_path / "day.jsonl.gz"

    with path.open("wb") as file, archive._Gzip(file) as out:
        for line in lines:
            out.write(line)

    assert gzip.decompress(path.read_bytes()) == b"".join(lines)
    assert out.sha256.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_write_of_the_archive_is_raised_to_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr(archive._Gzip, "CHUNK_BYTES", 64)

    class FullDisk:
        def write(self, data):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"), archive._Gzip(FullDisk()) as out:
        for n in range(100):
            out.write(b"%d\n" % n)


def test_a_day_whose_archive_cannot_be_written_fails_the_run_and_keeps_its_signals(monkeypatch, caplog):
    # The write fails while the day's rows are still being read (on PostgreSQL, a COPY that holds
    # the connection): the run must still be recorded as failed, not wait on its own connection.
    signals = [signal_at(DAY_1 + timedelta(hours=hour), external_id=f"55120{hour}") for hour in range(3)]
    monkeypatch.setattr(archive._Gzip, "CHUNK_BYTES", 64)

    def full_disk(self, compressed):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive._Gzip, "_put", full_disk)
    runs = []

    def sweep_in_thread():
        try:
            runs.extend(sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP))
        finally:
            connection.close()  # this thread's own

    sweeping = threading.Thread(target=sweep_in_thread, daemon=True)
    with caplog.at_level(logging.ERROR, logger="omen.retention"):
        sweeping.start()
        sweeping.join(timeout=60)

    assert not sweeping.is_alive(), "the sweep hangs"
    (run,) = runs
    assert run.status == "failed" and "No space left" in run.error
    # Expected, and the line names the file and the setting: no traceback on the operator's terminal.
    (record,) = [record for record in caplog.records if record.name == "omen.retention"]
    assert record.getMessage() == f"retention: policy signals failed: {run.error}"
    assert record.exc_info is None
    assert Signal.objects.count() == len(signals)
    # Which file, which setting; and no partial file left beside the day's.
    pending = archive.day_path(DAY_1.date()).with_name(f"{DAY_1.date()}.jsonl.gz.new")
    assert f"cannot write {pending} (RETENTION_ARCHIVE_DIR={archive.archive_root()})" in run.error, run.error
    assert not pending.exists() and not archive.day_path(DAY_1.date()).exists()


def test_a_day_older_than_the_ledger_keeps_is_not_restored(settings):
    settings.RETENTION_KEEP = {"ledger": "200d"}  # DAY_1 is older, whenever the test runs
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    assert not Signal.objects.exists()

    with pytest.raises(CommandError, match="older than the ledger keeps partitions"):
        call_command("retention", "restore-archive", DAY_1.date().isoformat())
    assert not Signal.objects.exists()


def test_a_day_older_than_the_ledger_keeps_with_no_archive_is_said_to_have_none(settings):
    settings.RETENTION_KEEP = {"ledger": "200d"}

    with pytest.raises(CommandError, match=r"^no archive of 2010-01-01 in ") as refused:
        call_command("retention", "restore-archive", "2010-01-01")

    assert "Read the file instead" not in str(refused.value)


def test_a_day_file_that_cannot_be_read_is_one_line_naming_it():
    """The fault probe's day file replaced by a directory: restore-archive ended in IsADirectoryError's traceback."""
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    path = archive.day_path(DAY_1.date())
    path.unlink()
    path.mkdir()

    with pytest.raises(CommandError) as refused:
        call_command("retention", "restore-archive", DAY_1.date().isoformat())

    assert str(refused.value) == f"{DAY_1.date()}: cannot read {path}: Is a directory (errno 21)"
    assert refused.value.returncode == 1 and not Signal.objects.exists()


def test_a_day_whose_file_is_gone_but_whose_manifest_entry_stays_is_said_to_be_missing():
    signal_at(DAY_1)
    sweep(["signals"], now=DAY_1 + timedelta(days=1) + KEEP)
    path = archive.day_path(DAY_1.date())
    path.unlink()

    with pytest.raises(
        CommandError, match=rf"{path} is missing: its manifest entry records 1 signal\(s\) of "
    ) as refused:
        call_command("retention", "restore-archive", DAY_1.date().isoformat())

    assert refused.value.returncode == 2 and "SHA-256" not in str(refused.value)


def test_restore_archive_help_gives_every_exit_status(capsys):
    """Its --help said only "Exit 2: damaged.", while most refusals (no archive, a day older than the
    ledger keeps, a line that cannot make a row, a sweep running) exit 1."""
    with pytest.raises(SystemExit):
        call_command("retention", "restore-archive", "--help")
    text = " ".join(capsys.readouterr().out.split())

    assert "0 restored, or already in the database" in text
    assert "2 the day's file is damaged" in text
    assert "1 anything else" in text
