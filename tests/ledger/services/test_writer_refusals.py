"""The writer refuses to append to a ledger it cannot account for, and says where and why.

Each refusal leaves the outbox and the files as they were: an operator decides, not the writer.
"""

import gzip
from datetime import UTC, datetime

import pytest

from ledger.models import LedgerOutbox, LedgerWriterState
from ledger.reading import ledger_segments, segment_data
from ledger.services import writer
from ledger.services.writer import ledger_drain, locked_ledger
from ledger.wal import HEADER_SIZE, LedgerCorruption, LedgerError, read_frames
from signals.services.ingest import signals_ingest
from tests.support.factories import RawEventFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def short_segments(settings):
    settings.LEDGER_SEGMENT_MAX_FRAMES = 3


def ingest(count: int) -> None:
    signals_ingest(records=RawEventFactory.build_batch(count))


def files(root) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def recorded_segment(root):
    state = LedgerWriterState.objects.get()
    return root / state.partition / state.segment, state


def refused(settings, root, match: str) -> LedgerCorruption:
    """Queue two saves, drain as a restarted process would, and return the refusal."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(2)
    before = files(root)
    writer._open_segment = None  # a restarted process: nothing of the segment is known in memory

    with pytest.raises(LedgerCorruption, match=match) as caught:
        ledger_drain()

    assert LedgerOutbox.objects.count() == 2  # nothing marked
    assert files(root) == before  # nothing cut, nothing appended
    return caught.value


def test_a_compressed_segment_in_an_unsealed_partition_stops_the_writer(ledger_dir, settings):
    """Only sealing may be followed by compression: a .gz where frames are still appended is a mistake."""
    ingest(5)  # segments 001 (3 frames) and 002 (2 frames), the second the writer's
    segment, _ = recorded_segment(ledger_dir)
    segment.with_name(f"{segment.name}.gz").write_bytes(gzip.compress(segment.read_bytes()))
    segment.unlink()

    error = refused(settings, ledger_dir, "compressed segment in an unsealed partition")

    assert error.path == segment.with_name("signals-002.wal.gz")


def test_a_missing_recorded_segment_stops_the_writer(ledger_dir, settings):
    ingest(5)
    segment, _ = recorded_segment(ledger_dir)
    segment.unlink()

    error = refused(settings, ledger_dir, "the writer's recorded segment is missing")

    assert error.path == segment


def test_a_segment_shorter_than_recorded_stops_the_writer(ledger_dir, settings):
    """Frames the database acknowledged are gone from the file: nothing may be appended after the cut."""
    ingest(5)
    segment, state = recorded_segment(ledger_dir)
    segment.write_bytes(segment.read_bytes()[:-10])

    error = refused(settings, ledger_dir, f"segment is shorter than its recorded {state.offset} bytes")

    assert (error.path, error.offset) == (segment, state.offset - 10)


def test_damage_before_the_newest_segment_of_a_dead_run_stops_the_writer(ledger_dir, settings):
    """A dead run's unacknowledged frames may be cut only at the end of the ledger. A bad frame in
    a segment it finished is not a torn write: a later segment was written after it."""
    ingest(2)  # recorded: segment 001, two frames
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(5)
    # A run appends all five (the rest of 001, all of 002, the start of 003) and dies before its commit.
    with pytest.raises(RuntimeError), locked_ledger() as (_state, end):
        writer._append_batch(end, writer._pending_rows(100), datetime.now(UTC))
        raise RuntimeError("killed before commit")
    middle = ledger_segments(ledger_dir)[1].path
    frame = read_frames(segment_data(middle)).frames[1]
    data = bytearray(middle.read_bytes())
    data[frame.offset + HEADER_SIZE + 5] ^= 0xFF
    middle.write_bytes(bytes(data))
    before = files(ledger_dir)
    writer._open_segment = None

    with pytest.raises(LedgerCorruption, match="damaged frame before the newest segment") as caught:
        ledger_drain()

    assert (caught.value.path, caught.value.offset) == (middle, frame.offset)
    assert LedgerOutbox.objects.count() == 5
    assert files(ledger_dir) == before
    assert LedgerWriterState.objects.get().frames_written == 2


@pytest.mark.parametrize(
    "saves, contract",
    [
        (2, '{"deleted":true,"signal_id":"OMEN-A"}\nnot json'),  # a bulk delete's second record
        (2, '{"deleted":true}\n{"deleted":true}'),  # records that name no signal
        (1, '{"deleted":true,"signal_id":"OMEN-A"}'),  # a delete's record without its identities
        (1, "[1, 2]"),
        (2, None),  # a bulk row with no records at all
    ],
)
def test_an_outbox_row_whose_contract_cannot_be_read_stops_the_writer_naming_the_row(
    ledger_dir, settings, saves, contract
):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(1)
    bad = LedgerOutbox.objects.create(
        operation="delete",
        signal_pk=999_999,
        signal_id="OMEN-A",
        contract=contract,
        saved_at=datetime.now(UTC),
        saves=saves,
    )
    ingest(1)
    message = f"outbox row {bad.pk} holds a contract the writer cannot read"

    with pytest.raises(LedgerError, match=message):
        ledger_drain()
    # Recorded where operators look (the admin, /health/ready), and the saves after it wait.
    assert message in LedgerWriterState.objects.get().last_error
    assert LedgerOutbox.objects.filter(pk__gte=bad.pk).count() == 2

    bad.delete()
    assert ledger_drain().frames == 2 and not LedgerOutbox.objects.exists()
    assert LedgerWriterState.objects.get().last_error == ""
