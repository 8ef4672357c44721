"""``ledger verify`` holds a sealed partition to its manifest and its ``_SEALED`` marker.

A partition is sealed by a manifest and then a marker; either one alone, a manifest that lists
other segments than the directory holds, or totals that do not add up are each reported, at the
partition or segment, and a partition that does not verify is not recorded as verified.
"""

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ledger.layout import MANIFEST_FILE, SEALED_FILE
from ledger.models import LedgerPartition
from ledger.services.seal import partition_seal
from ledger.services.verify import ledger_verify
from tests.support.ledger_days import frames_when_drained, write_day

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def sealed(ledger_dir, settings):
    """A sealed day of seven frames in three segments (3, 3, 1); returns its directory."""
    frames_when_drained(settings)
    name = write_day(DAY)
    partition_seal(name, now=DAY + timedelta(days=1))
    LedgerPartition.objects.filter(name=name).update(verified_at=None)
    return ledger_dir / name


def edit_manifest(directory, change) -> None:
    manifest = orjson.loads((directory / MANIFEST_FILE).read_bytes())
    change(manifest)
    (directory / MANIFEST_FILE).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def problems() -> list[str]:
    report = ledger_verify()
    assert not report.ok
    return [str(problem) for problem in report.problems]


def verified_at(directory):
    return LedgerPartition.objects.get(name=directory.name).verified_at


def test_a_sealed_partition_that_matches_its_manifest_verifies_and_is_recorded_as_verified(sealed):
    report = ledger_verify()

    assert report.ok, report.problems
    assert verified_at(sealed) is not None


def test_a_marker_without_a_manifest_is_reported(sealed):
    (sealed / MANIFEST_FILE).unlink()

    assert problems() == ["2026-11-20: sealed, but _manifest.json is missing"]
    assert verified_at(sealed) is None


def test_a_manifest_without_its_marker_is_an_interrupted_seal(sealed):
    (sealed / SEALED_FILE).unlink()

    assert problems() == [
        "2026-11-20: has a manifest but no _SEALED marker: sealing was interrupted; run `ledger seal`"
    ]
    assert verified_at(sealed) is None


def test_a_segment_the_manifest_lists_but_the_directory_lacks_is_reported(sealed):
    (sealed / "signals-003.wal").unlink()

    found = problems()

    assert "2026-11-20/signals-003.wal: listed in the manifest but missing" in found
    assert any(p.startswith("2026-11-20: manifest total_records 7 does not match") for p in found), found


def test_a_segment_missing_from_the_manifest_is_reported_as_appended_after_sealing(sealed):
    edit_manifest(sealed, lambda manifest: manifest["segments"].pop())

    found = problems()

    assert "2026-11-20/signals-003.wal: present but not in the manifest (appended after sealing?)" in found
    assert verified_at(sealed) is None


def test_a_segment_whose_counts_differ_from_its_manifest_entry_is_reported(sealed):
    def undercount(manifest):
        manifest["segments"][1]["record_count"] = 2

    edit_manifest(sealed, undercount)

    found = problems()

    assert len(found) == 1 and found[0].startswith("2026-11-20/signals-002.wal: does not match its manifest"), found


def test_a_manifest_whose_total_does_not_add_up_is_reported(sealed):
    def overcount(manifest):
        manifest["total_records"] = 8

    edit_manifest(sealed, overcount)

    assert problems() == ["2026-11-20: manifest total_records 8 does not match the frames"]
    assert verified_at(sealed) is None


def test_an_unsealed_partition_needs_no_manifest(ledger_dir, settings):
    frames_when_drained(settings)
    write_day(DAY)

    report = ledger_verify()

    assert report.ok, report.problems
    assert not LedgerPartition.objects.exists()
