"""``manage.py ledger ...`` as an operator runs it: separate processes, real files, exit codes."""

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.services.writer import ledger_drain
from tests.support.factories import SignalFactory
from tests.support.original_ledger import original_contracts, write_original_partition
from tests.support.processes import ROOT, LineReader, child_env, manage, query

pytestmark = pytest.mark.slow


def run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def omen(fresh_database_url, tmp_path):
    """A migrated fresh database and the environment of its processes (ledger under var/)."""

    def make(name: str):
        url = fresh_database_url()
        env = child_env(url, tmp_path / name)
        manage(env, "migrate", "--no-input")
        return url, env, tmp_path / name / "ledger"

    return make


def signal_rows(url: str) -> list[tuple]:
    return query(
        url, "SELECT signal_id, source, title, probability, observed_at, contract FROM signals_signal ORDER BY 1"
    )


def test_import_an_original_ledger_twice_then_verify_tail_and_seal(omen, tmp_path, recorded_dir):
    url, env, _ = omen("var")
    original = tmp_path / "omen-ledger"
    contracts = original_contracts(recorded_dir, 5)
    write_original_partition(original, "2026-02-07", [contracts[:3]], sealed=True)
    write_original_partition(original, "2026-02-08", [contracts[3:]])

    first = manage(env, "ledger", "import", str(original))
    second = manage(env, "ledger", "import", str(original))
    verified = manage(env, "ledger", "verify")
    tail = manage(env, "ledger", "tail", "-n", "2")
    sealed = run(env, "ledger", "seal")

    assert "imported 5" in first and "imported 0" in second and "existing 5" in second
    assert "ledger OK" in verified and "5 signals in the database" in verified
    envelopes = [json.loads(line) for line in tail.splitlines()]
    assert [e["signal_id"] for e in envelopes] == [c.contract["signal_id"] for c in contracts[3:]]
    assert all(e["operation"] == "create" and e["schema_version"] == "1.2.0" for e in envelopes)
    assert sealed.returncode == 0 and "nothing to seal" in sealed.stdout  # today's partition is not due
    assert len(query(url, "SELECT id FROM signals_signal")) == 5


def new_markets(directory, prefix: str = "7") -> Path:
    """The demo's markets under new ids: a reply whose signals no ledger holds yet."""
    markets = json.loads((ROOT / "signals" / "demo" / "polymarket_markets.json").read_text())
    for market in markets:
        market["id"] = f"{prefix}{market['id']}"
    path = directory / f"new-markets-{prefix}.json"
    path.write_text(json.dumps(markets))
    return path


def test_replay_into_an_empty_database_gives_the_same_table(omen, recorded_dir, tmp_path):
    source_url, source_env, source_ledger = omen("source")
    manage(source_env, "ingest_file", str(recorded_dir / "polymarket_gamma_markets_active_part1.json"),
           "--source", "polymarket")  # fmt: skip
    manage(source_env, "load_demo")
    rebuilt_url, rebuilt_env, rebuilt_ledger = omen("rebuilt")
    shutil.rmtree(rebuilt_ledger, ignore_errors=True)
    shutil.copytree(source_ledger, rebuilt_ledger)

    replayed = manage(rebuilt_env, "ledger", "replay")
    refused = run(rebuilt_env, "ledger", "replay")
    rebuilt_rows = signal_rows(rebuilt_url)
    # The rebuilt database goes on: its new saves continue the chain and their own outbox ids.
    manage(rebuilt_env, "ingest_file", str(new_markets(tmp_path)), "--source", "polymarket")
    verified = manage(rebuilt_env, "ledger", "verify")

    assert rebuilt_rows == signal_rows(source_url) != []
    assert f"created {len(rebuilt_rows)}" in replayed
    assert refused.returncode != 0 and f"already holds {len(rebuilt_rows)} signals" in refused.stderr
    assert len(signal_rows(rebuilt_url)) > len(rebuilt_rows)
    assert "ledger OK" in verified


def test_verify_exits_non_zero_and_names_the_damaged_frame(omen):
    url, env, ledger = omen("var")
    manage(env, "load_demo")
    (segment,) = ledger.glob("*/signals-001.wal")
    data = bytearray(segment.read_bytes())
    data[200] ^= 0x20
    segment.write_bytes(bytes(data))

    result = run(env, "ledger", "verify")

    assert result.returncode != 0
    assert f"{segment.parent.name}/signals-001.wal@0" in result.stderr


def test_tail_prints_the_newest_frames_then_follows_new_ones(omen, recorded_dir):
    url, env, _ = omen("var")
    manage(env, "load_demo")
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "ledger", "tail", "-n", "3", "-f"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    output = LineReader(follower)
    try:
        before = [json.loads(output.line(timeout=30)) for _ in range(3)]  # printed: it now follows
        demo = [row[0] for row in query(url, "SELECT signal_id FROM signals_signal ORDER BY id")]
        manage(env, "ingest_file", str(recorded_dir / "polymarket_gamma_markets_active_part1.json"),
               "--source", "polymarket")  # fmt: skip
        framed = [row[0] for row in query(url, "SELECT signal_id FROM signals_signal ORDER BY id")]
        after = [json.loads(output.line(timeout=30)) for _ in framed[len(demo) :]]
    finally:
        follower.send_signal(signal.SIGINT)  # Ctrl-C: it stops quietly
        follower.wait(timeout=30)
        follower.stdout.close()

    assert [e["signal_id"] for e in before] == demo[-3:]
    assert len(after) > 3
    assert sorted(e["signal_id"] for e in after) == sorted(framed[len(demo) :])
    assert follower.returncode == 0


def errors(result: subprocess.CompletedProcess) -> list[str]:
    """The command's own lines on stderr (a development run logs its start there too)."""
    return [line for line in result.stderr.splitlines() if " INFO " not in line]


def test_tail_exits_2_naming_the_damage_and_75_while_a_partition_cannot_be_found(omen, tmp_path):
    """Both were one FeedBroken, exit 1 as for a bad option: a script could not tell damage (exit 2
    for every other ledger command) from a volume not mounted for a moment (run it again)."""
    url, env, ledger = omen("var")
    manage(env, "load_demo")
    (segment,) = ledger.glob("*/signals-001.wal")
    partition = segment.parent
    manage(env, "ledger", "seal", partition.name, "--force")

    partition.rename(tmp_path / "unmounted")
    unmounted = run(env, "ledger", "tail", "-n", "2")
    (tmp_path / "unmounted").rename(partition)
    served = run(env, "ledger", "tail", "-n", "2")
    data = bytearray(segment.read_bytes())
    data[200] ^= 0x20  # inside the first frame: not one frame reads
    segment.write_bytes(bytes(data))
    damaged = run(env, "ledger", "tail", "-n", "2")

    assert (unmounted.returncode, unmounted.stdout) == (75, "")
    (line,) = errors(unmounted)
    assert f"ledger tail: {partition.name} is recorded (hot, " in line and "is a volume missing?" in line
    assert served.returncode == 0 and len(served.stdout.splitlines()) == 2
    assert (damaged.returncode, damaged.stdout) == (2, "")
    (line,) = errors(damaged)
    assert f"ledger tail: damaged at {partition.name}/signals-001.wal@0: frame 1 is not here whole" in line


def next_error(errors: LineReader, timeout: float) -> str:
    """The child's next line on stderr that is its own (not the start's log line)."""
    while " INFO " in (line := errors.line(timeout)):
        pass
    return line


def test_tail_follow_waits_for_a_missing_partition_then_goes_on_after_the_last_frame_it_printed(omen, tmp_path):
    """-f ended (exit 1) at the first read that found a recorded partition in no directory: a volume
    unmounted for a moment stopped every follower. It now says so once, reads again every second,
    and goes on after the last frame it printed; damage still ends it."""
    url, env, ledger = omen("var")
    manage(env, "load_demo")
    (segment,) = ledger.glob("*/signals-001.wal")
    sealed = segment.parent
    manage(env, "ledger", "seal", sealed.name, "--force")
    manage(env, "ingest_file", str(new_markets(tmp_path, "7")), "--source", "polymarket")  # to a late partition
    (late,) = {path.parent for path in ledger.glob("*/signals-001.wal")} - {sealed}
    follower = subprocess.Popen(
        [sys.executable, "manage.py", "ledger", "tail", "-n", "3", "-f"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    output, errors = LineReader(follower), LineReader(follower, follower.stderr)
    try:
        before = [json.loads(output.line(timeout=30))["signal_id"] for _ in range(3)]  # printed: it now follows
        framed_before = [row[0] for row in query(url, "SELECT signal_id FROM signals_signal ORDER BY id")]
        sealed.rename(tmp_path / "unmounted")
        waiting = next_error(errors, timeout=30)
        manage(env, "ingest_file", str(new_markets(tmp_path, "8")), "--source", "polymarket")
        framed = [row[0] for row in query(url, "SELECT signal_id FROM signals_signal ORDER BY id")]
        (tmp_path / "unmounted").rename(sealed)
        after = [json.loads(output.line(timeout=30))["signal_id"] for _ in framed[len(framed_before) :]]
        reading = next_error(errors, timeout=30)
        data = bytearray((late / "signals-001.wal").read_bytes())
        data[200] ^= 0x20  # inside the late partition's first frame
        (late / "signals-001.wal").write_bytes(bytes(data))
        follower.wait(timeout=30)
        damaged = next_error(errors, timeout=30)
    finally:
        follower.kill()
        follower.wait(timeout=30)
        follower.stdout.close()
        follower.stderr.close()

    assert before == framed_before[-3:]
    assert waiting.startswith("ledger tail: waiting, reading again every 1 s: ")
    assert f"{sealed.name} is recorded (hot, " in waiting
    assert len(after) > 3 and sorted(after) == sorted(framed[len(framed_before) :])  # each once
    assert reading.strip() == f"ledger tail: the ledger reads again; following on after position {len(framed_before)}"
    assert follower.returncode == 2
    assert f"ledger tail: damaged at {late.name}/signals-001.wal@0: frame 1 is not here whole" in damaged
    assert output.remaining(timeout=5) == []  # nothing printed twice


@pytest.mark.django_db
def test_a_ledger_file_the_command_cannot_read_is_one_line_naming_it(ledger_dir, settings):
    """No traceback for an operator: the file, the errno text, what to do."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    SignalFactory()
    ledger_drain()
    (segment,) = ledger_dir.glob("*/signals-001.wal")
    partition = segment.parent
    segment.unlink()
    segment.mkdir()  # a directory where a segment should be: reading it fails

    with pytest.raises(CommandError) as failed:
        call_command("ledger", "tail")

    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(f"ledger tail: cannot use {partition / 'signals-001.wal'}: Is a directory (errno 21)")


def test_tail_refuses_a_negative_count_naming_the_option(ledger_dir, settings):
    """The fault probe's `ledger tail -n -5` printed nothing and exited 0, as if the ledger were empty."""
    settings.LEDGER_DIR = ledger_dir

    with pytest.raises(CommandError, match=r"argument -n/--lines: '-5': how many frames, 0 or more"):
        call_command("ledger", "tail", "-n", "-5")


def test_verify_refuses_contents_without_the_reconciliation_it_is_part_of(ledger_dir, settings):
    """The fault probe's `ledger verify --no-reconcile --contents` compared no contract and said "ledger OK"."""
    settings.LEDGER_DIR = ledger_dir

    with pytest.raises(CommandError, match="argument --contents: not allowed with argument --no-reconcile"):
        call_command("ledger", "verify", "--no-reconcile", "--contents")


@pytest.mark.django_db
def test_tail_into_a_pipe_its_reader_closed_is_no_ledger_error(ledger_dir, settings):
    """The fault probe's `ledger tail -n 2000 | head -c 100`: "cannot use LEDGER_DIR: Broken pipe
    (errno 32); check LEDGER_DIR and the disk under it", exit 1. The pipe is manage.py's to end."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    SignalFactory()
    ledger_drain()  # a frame to print: tail writes to the pipe

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        call_command("ledger", "tail", stdout=ClosedPipe())
