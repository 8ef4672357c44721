#!/usr/bin/env python
"""Ledger throughput: group-commit append, ingest with the ledger on/off, verify (and replay).

Prints, each next to its baseline measured in the same run:

* append: ~1.3 KB envelopes through ``SegmentWriter.append`` (one write + one fsync per batch,
  segments rotated as the writer rotates them) against plain ``os.write`` of the very same bytes
  with the same fsyncs, in the same directory;
* ingest: ``signals_ingest`` on a fresh database with the ledger's receivers disconnected, then
  connected with ``LEDGER_DRAIN_ON_COMMIT=inline`` (every batch framed and fsynced at commit);
* verify: ``ledger_verify(reconcile=False)`` of a ledger of ``--ledger-mb`` MB in the real layout,
  in a child process, with the child's peak RSS (VmHWM); cold (pages dropped) and warm;
* replay: ``ledger_replay`` of signal-shaped frames into an empty database, in a child process,
  when ``ledger.services.replay`` exists.

    .venv/bin/python bench/ledger.py                                  # everything, SQLite, 1 GB ledger
    .venv/bin/python bench/ledger.py --frames 20000 --observations 10000 --ledger-mb 100
    .venv/bin/python bench/ledger.py --parts ingest,replay --backend postgresql
"""

import argparse
import atexit
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# This file is named like the ledger app: its directory must not shadow the package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ingest = _bench_module("ingest")  # bench helpers: the same synthetic markets and database set-up
POSTGRES_ADMIN_URL, fresh_postgres = _ingest.POSTGRES_ADMIN_URL, _ingest.fresh_postgres
peak_rss_mb, synthetic_markets = _ingest.peak_rss_mb, _ingest.synthetic_markets
synthetic_records = _ingest.synthetic_records
time_calls = _ingest.time_calls

from ledger.envelope import GENESIS_HASH, build_payload, format_timestamp, payload_hash  # noqa: E402
from ledger.layout import segment_name  # noqa: E402
from ledger.wal import HEADER_SIZE, SegmentWriter, encode_frames, ledger_sequence  # noqa: E402

BENCH_DB = "omen_bench_ledger"
REPLAY_DB = "omen_bench_ledger_replay"
PARTS = ("append", "ingest", "verify", "replay")
# The writer's rotation thresholds (the settings' defaults), here without Django.
SEGMENT_MAX_FRAMES = 10_000
SEGMENT_MAX_BYTES = 10 * 1024 * 1024
PARTITION_SEGMENTS = 25  # the verify ledger spans several day partitions, ~250 MiB each
MB = 1e6


# --------------------------------------------------------------------------- machine


def filesystem_of(path: Path) -> str:
    """'ext4 on /dev/vda (mounted at /)' for the mount holding ``path``."""
    path = str(path.resolve())
    best = ("?", "?", "/")
    with open("/proc/mounts") as mounts:
        for line in mounts:
            device, mountpoint, fstype = line.split()[:3]
            inside = path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")
            if inside and len(mountpoint) >= len(best[2]):
                best = (fstype, device, mountpoint)
    return f"{best[0]} on {best[1]} (mounted at {best[2]})"


def machine_basics(workdir: Path) -> str:
    memory = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return (
        f"machine: {os.cpu_count()} cores, {memory} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}\n"
        f"temp dir: {workdir} on {filesystem_of(workdir)}"
    )


def vm_hwm_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def drop_cached_pages(paths) -> None:
    """Evict the files' (clean, fsynced) pages from the page cache, so the next read hits the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def fresh_workdir(prefix: str) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return workdir


def setup_django(workdir: Path, database_url: str, **settings) -> None:
    """Django on ``database_url`` with DEBUG off and the ledger under ``workdir``."""
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "OMEN_ENV_FILE": "/dev/null",
            "OMEN_VAR_DIR": str(workdir),
            "LEDGER_DIR": str(workdir / "ledger"),
            "LEDGER_ARCHIVE_DIR": str(workdir / "ledger-archive"),
            "LOG_LEVEL": "WARNING",
            "DEBUG": "false",
            **settings,
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")
    import django

    django.setup()


def database_url(backend: str, workdir: Path, name: str = BENCH_DB) -> str:
    return f"sqlite:///{workdir / 'bench.sqlite3'}" if backend == "sqlite" else fresh_postgres(name)


# --------------------------------------------------------------------------- synthetic frames


class ChainedFrames:
    """Envelopes chained and numbered as the writer does, rotating segments by its rule.

    ``fields(n)`` gives the envelope fields of frame ``n`` (signal_id ... contract_json). ``take``
    returns ``(partition, ordinal, payloads)`` chunks, one per segment the batch touches. With
    ``partition_segments``, a new day's partition starts after that many segments (ordinals start
    again at 1 there; the chain goes on).
    """

    def __init__(self, fields, *, partition_segments: int | None = None):
        self.fields = fields
        self.partition_segments = partition_segments
        self.day = date(2026, 11, 24)
        self.head = GENESIS_HASH
        self.ordinal, self.segment_frames, self.size, self.count = 1, 0, 0, 0

    def take(self, frames: int) -> list[tuple[str, int, list[bytes]]]:
        chunks: list[tuple[str, int, list[bytes]]] = [(self.day.isoformat(), self.ordinal, [])]
        for _ in range(frames):
            if self.segment_frames >= SEGMENT_MAX_FRAMES or self.size >= SEGMENT_MAX_BYTES:
                self.ordinal, self.segment_frames, self.size = self.ordinal + 1, 0, 0
                if self.partition_segments and self.ordinal > self.partition_segments:
                    self.day, self.ordinal = self.day + timedelta(days=1), 1
                chunks.append((self.day.isoformat(), self.ordinal, []))
            self.count += 1
            partition = chunks[-1][0]
            payload = build_payload(
                prev_hash=self.head,
                ledger_sequence=ledger_sequence(self.ordinal, self.segment_frames + 1),
                outbox_id=self.count,
                operation="create",
                ledger_written_at=f"{partition}T12:00:00.000000Z",
                ledger_partition=partition,
                **self.fields(self.count),
            )
            chunks[-1][2].append(payload)
            self.head = payload_hash(payload)
            self.segment_frames += 1
            self.size += HEADER_SIZE + len(payload)
        return [chunk for chunk in chunks if chunk[2]]


def synthetic_fields(frame_bytes: int):
    """Envelope fields of synthetic frames sized so that a whole frame (header included) is about
    ``frame_bytes``: a small contract padded with text."""
    moment = datetime(2026, 11, 24, tzinfo=UTC)

    def fields(n: int, text: str) -> dict:
        signal_id = f"OMEN-{n:012X}"
        stamp = format_timestamp(moment + timedelta(microseconds=n))
        return {
            "signal_id": signal_id,
            "trace_id": f"{n:016x}",
            "input_event_hash": f"{n:064x}",
            "source_event_id": f"polymarket-{1_000_000 + n % 5000}",
            "ruleset_version": "2026.11.0",
            "observed_at": stamp,
            "emitted_at": stamp,
            "contract_json": f'{{"signal_id":"{signal_id}","text":"{text}"}}'.encode(),
        }

    probe = ChainedFrames(lambda n: fields(n, "")).take(1)[0][2][0]
    filler = max(0, frame_bytes - HEADER_SIZE - len(probe))
    text = ("Houthi attacks close the Red Sea shipping route to container ships. " * (filler // 60 + 1))[:filler]
    return lambda n: fields(n, text)


# --------------------------------------------------------------------------- 1. append


def bench_append(workdir: Path, frames: int, batch: int, frame_bytes: int, rounds: int) -> None:
    source = ChainedFrames(synthetic_fields(frame_bytes))
    started = time.perf_counter()
    batches = [source.take(min(batch, frames - done)) for done in range(0, frames, batch)]
    build_seconds = time.perf_counter() - started
    # One append per segment a batch touches, as the writer does.
    chunks = [(ordinal, payloads) for batch_chunks in batches for _, ordinal, payloads in batch_chunks]
    total_bytes = sum(HEADER_SIZE + len(p) for _, payloads in chunks for p in payloads)
    segments = chunks[-1][0]
    started = time.perf_counter()
    encoded = [(ordinal, encode_frames(payloads)[0]) for ordinal, payloads in chunks]
    encode_seconds = time.perf_counter() - started
    print(
        f"append: {frames} frames of {total_bytes / frames:.0f} bytes ({total_bytes / MB:.0f} MB), "
        f"{len(chunks)} appends of <= {batch} frames, {segments} segments "
        f"(rotation at {SEGMENT_MAX_FRAMES} frames or {SEGMENT_MAX_BYTES // 2**20} MiB)\n"
        f"        building the envelopes (build_payload + sha256 chain, not timed below): "
        f"{frames / build_seconds:8.0f} frames/s\n"
        f"        encode_frames alone (header + crc32 + join, part of each append): "
        f"{frames / encode_seconds:8.0f} frames/s",
        flush=True,
    )

    def group_commit(directory: Path) -> None:
        writer = None
        for ordinal, payloads in chunks:
            if writer is None or writer.path.name != segment_name(ordinal):
                if writer is not None:
                    writer.close()
                writer = SegmentWriter(directory / segment_name(ordinal))
            writer.append(payloads)
        writer.close()

    def raw(directory: Path) -> None:
        fd, current = None, None
        for ordinal, buffer in encoded:
            if ordinal != current:
                if fd is not None:
                    os.close(fd)
                fd = os.open(directory / segment_name(ordinal), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                current = ordinal
            view = memoryview(buffer)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        os.close(fd)

    rates: dict[str, list[float]] = {"raw": [], "group": []}
    for round_ in range(1, rounds + 1):
        line = []
        for name, run in (("raw", raw), ("group", group_commit)):
            directory = workdir / f"append-{name}-{round_}"
            directory.mkdir()
            started = time.perf_counter()
            run(directory)
            elapsed = time.perf_counter() - started
            rates[name].append(frames / elapsed)
            line.append(f"{name} {frames / elapsed:8.0f} frames/s ({total_bytes / MB / elapsed:5.1f} MB/s)")
            shutil.rmtree(directory)
        print(f"        round {round_}: " + ", ".join(line), flush=True)
    raw_rate, group_rate = statistics.median(rates["raw"]), statistics.median(rates["group"])
    print(
        f"        median of {rounds}: SegmentWriter.append {group_rate:8.0f} frames/s, "
        f"raw os.write + fsync {raw_rate:8.0f} frames/s, group/raw = {group_rate / raw_rate:.2f} "
        f"(raw is {raw_rate / group_rate:.2f}x)",
        flush=True,
    )


# --------------------------------------------------------------------------- 2. ingest on / off


def ingest_child(backend: str, ledger: str, observations: int, markets: int, batch_size: int) -> None:
    """One ingest on a fresh database; prints one JSON line of figures."""
    workdir = fresh_workdir("omen-bench-ledger-ingest-")
    setup_django(workdir, database_url(backend, workdir), LEDGER_DRAIN_ON_COMMIT="inline" if ledger == "on" else "off")
    from django.core.management import call_command
    from django.db.models.signals import post_delete, post_save

    import ledger.services.writer as writer
    from ledger.models import LedgerOutbox
    from ledger.reading import iter_segments
    from signals.announcements import signals_bulk_created
    from signals.models import Signal
    from signals.services.ingest import signals_ingest

    call_command("migrate", verbosity=0)
    drain = {"seconds": 0.0, "calls": 0}
    refs = {"seconds": 0.0, "calls": 0}  # the frame references' inserts, inside the drains
    if ledger == "off":
        disconnected = [
            post_save.disconnect(sender=Signal, dispatch_uid="ledger.signal_saved"),
            post_delete.disconnect(sender=Signal, dispatch_uid="ledger.signal_deleted"),
            signals_bulk_created.disconnect(dispatch_uid="ledger.signals_bulk_created"),
        ]
        assert all(disconnected), f"a ledger receiver was not connected: {disconnected}"
    else:
        time_calls(writer, "ledger_drain", drain)
        if hasattr(writer, "frame_refs_record"):  # since issue 13
            time_calls(writer, "frame_refs_record", refs)

    started = time.perf_counter()
    summary = signals_ingest(records=synthetic_records(observations, markets), batch_size=batch_size)
    elapsed = time.perf_counter() - started
    figures = {
        "backend": backend,
        "ledger": ledger,
        "observations": summary.fetched,
        "created": summary.created,
        "seconds": elapsed,
        "peak_rss_mb": peak_rss_mb(),
        "drain_seconds": drain["seconds"],
        "drains": drain["calls"],
        "refs_seconds": refs["seconds"],
        "signals": Signal.objects.count(),
    }
    if ledger == "on":
        from django.conf import settings

        from ledger.services.verify import ledger_verify

        frames = segments = size = 0
        for read in iter_segments(settings.LEDGER_DIR):
            frames, segments, size = frames + len(read.frames), segments + 1, size + read.size
        started = time.perf_counter()
        report = ledger_verify(reconcile=True)
        figures.update(
            frames=frames,
            segments=segments,
            ledger_bytes=size,
            outbox_pending=LedgerOutbox.objects.count_saves(),
            verify_ok=report.ok,
            verify_problems=[str(p) for p in report.problems[:5]],
            verify_seconds=time.perf_counter() - started,
        )
    print(json.dumps(figures), flush=True)


def child_figures(arguments: list[str]) -> dict:
    """Run this script as a child with ``arguments``; its last stdout line is a JSON object."""
    done = subprocess.run([sys.executable, __file__, *arguments], check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_ingest(backend: str, observations: int, markets: int, batch_size: int, rounds: int) -> None:
    print(
        f"ingest ({backend}): {observations} observations of {markets} markets, batch {batch_size}, "
        f"each run a fresh database in a process of its own, order off/on/on/off...",
        flush=True,
    )
    order = [("off", "on") if round_ % 2 == 0 else ("on", "off") for round_ in range(rounds)]
    seconds: dict[str, float] = {"off": 0.0, "on": 0.0}
    created: dict[str, int] = {"off": 0, "on": 0}
    for pair in order:
        for ledger in pair:
            fig = child_figures(
                [
                    "--child",
                    "ingest",
                    "--backend",
                    backend,
                    "--ledger",
                    ledger,
                    "--observations",
                    str(observations),
                    "--markets",
                    str(markets),
                    "--batch-size",
                    str(batch_size),
                ]
            )
            seconds[ledger] += fig["seconds"]
            created[ledger] += fig["created"]
            line = (
                f"        ledger {ledger:<3}: {fig['seconds']:6.2f} s = "
                f"{fig['created'] / fig['seconds']:6.0f} signals/s ({fig['created']} signals), "
                f"peak RSS {fig['peak_rss_mb']:.0f} MB"
            )
            if ledger == "on":
                line += (
                    f"\n                    inside {fig['drains']} inline drains: {fig['drain_seconds']:.2f} s "
                    f"({fig['drain_seconds'] / fig['seconds']:.0%} of the run), of which inserting frame "
                    f"references {fig['refs_seconds']:.2f} s"
                    f"\n                    frames on disk {fig['frames']} == signals created {fig['created']}: "
                    f"{fig['frames'] == fig['created']} (signals in the database {fig['signals']}, outbox "
                    f"pending {fig['outbox_pending']}); {fig['segments']} segments, "
                    f"{fig['ledger_bytes'] / MB:.0f} MB, {fig['ledger_bytes'] / max(fig['frames'], 1):.0f} bytes/frame"
                    f"\n                    ledger_verify(reconcile=True): ok={fig['verify_ok']} in "
                    f"{fig['verify_seconds']:.2f} s ({fig['ledger_bytes'] / MB / fig['verify_seconds']:.0f} MB/s)"
                )
                for problem in fig["verify_problems"]:
                    line += f"\n                    problem: {problem}"
            print(line, flush=True)
    off_rate, on_rate = created["off"] / seconds["off"], created["on"] / seconds["on"]
    print(
        f"        over {rounds} run(s) each: ledger off {off_rate:6.0f} signals/s, ledger on {on_rate:6.0f} "
        f"signals/s, overhead {(seconds['on'] / created['on']) / (seconds['off'] / created['off']) - 1:+.1%} "
        f"(time per signal), on/off = {on_rate / off_rate:.2f}",
        flush=True,
    )


# --------------------------------------------------------------------------- 3. verify


def build_ledger(root: Path, target_bytes: int, fields, batch: int) -> tuple[int, int, list[Path], float]:
    """Write a valid ledger of about ``target_bytes`` under ``root``: (frames, bytes, segment paths, seconds)."""
    source = ChainedFrames(fields, partition_segments=PARTITION_SEGMENTS)
    started = time.perf_counter()
    paths: list[Path] = []
    written = 0
    writer = None
    while written < target_bytes:
        for partition, ordinal, payloads in source.take(batch):
            path = root / partition / segment_name(ordinal)
            if writer is None or writer.path != path:
                if writer is not None:
                    writer.close()
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = SegmentWriter(path)
                paths.append(path)
            writer.append(payloads)
            written += sum(HEADER_SIZE + len(p) for p in payloads)
    writer.close()
    return source.count, written, paths, time.perf_counter() - started


def verify_child(root: str, reconcile: bool) -> None:
    workdir = fresh_workdir("omen-bench-ledger-verify-")
    setup_django(workdir, f"sqlite:///{workdir / 'empty.sqlite3'}")
    from ledger.services.verify import ledger_verify

    if reconcile:  # an empty database that records the ledger's end: every frame is reconciled
        from django.core.management import call_command

        from ledger.models import LedgerWriterState
        from ledger.reading import ledger_segments

        call_command("migrate", verbosity=0)
        last = ledger_segments(Path(root))[-1]
        LedgerWriterState.objects.create(
            pk=1, partition=str(last.partition), segment=last.name, offset=last.path.stat().st_size
        )
    before = vm_hwm_mb()
    started = time.perf_counter()
    report = ledger_verify(Path(root), workdir / "no-archive", reconcile=reconcile)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "ok": report.ok,
                "problems": [str(p) for p in report.problems[:5]],
                "partitions": report.partitions,
                "segments": report.segments,
                "frames": report.frames,
                "bytes": report.bytes,
                "seconds": elapsed,
                "hwm_before_mb": before,
                "hwm_mb": vm_hwm_mb(),
            }
        ),
        flush=True,
    )


def bench_verify(workdir: Path, ledger_mb: int, frame_bytes: int, batch: int) -> None:
    root = workdir / "verify-ledger"
    frames, size, paths, seconds = build_ledger(root, ledger_mb * 10**6, synthetic_fields(frame_bytes), batch)
    partitions = len({path.parent for path in paths})
    print(
        f"verify: built {size / MB:.0f} MB, {frames} frames of {size / frames:.0f} bytes, {len(paths)} segments "
        f"in {partitions} partitions, in {seconds:.1f} s with SegmentWriter ({size / MB / seconds:.0f} MB/s)",
        flush=True,
    )
    runs = (
        ("cold (pages dropped)", True, False),
        ("warm (page cache)", False, False),
        ("warm, reconciled against an empty database (every frame reported missing)", False, True),
    )
    for label, cold, reconcile in runs:
        if cold:
            drop_cached_pages(paths)
        fig = child_figures(["--child", "verify", "--root", str(root)] + (["--reconcile"] if reconcile else []))
        print(
            f"        ledger_verify(reconcile={reconcile}), {label}: {fig['frames']} frames, "
            f"{fig['bytes'] / MB:.0f} MB "
            f"in {fig['seconds']:.2f} s = {fig['bytes'] / MB / fig['seconds']:.0f} MB/s; ok={fig['ok']}; "
            f"child peak RSS {fig['hwm_mb']:.0f} MB (after Django setup, before verify: {fig['hwm_before_mb']:.0f} MB)",
            flush=True,
        )
        for problem in fig["problems"]:
            print(f"        problem: {problem}", flush=True)
    shutil.rmtree(root)


# --------------------------------------------------------------------------- 4. replay


def replay_available() -> str | None:
    """None when ``ledger_replay`` can be imported, else why not."""
    if importlib.util.find_spec("ledger.services.replay") is None:
        return "ledger/services/replay.py does not exist"
    return None


def replay_child(backend: str, root: str) -> None:
    workdir = fresh_workdir("omen-bench-ledger-replay-")
    # Replay reads only the ledger the writer appends to.
    setup_django(workdir, database_url(backend, workdir, REPLAY_DB), LEDGER_DRAIN_ON_COMMIT="off", LEDGER_DIR=root)
    from django.core.management import call_command

    from ledger.services.replay import ledger_replay
    from signals.models import Signal

    call_command("migrate", verbosity=0)
    before = vm_hwm_mb()
    started = time.perf_counter()
    result = ledger_replay(Path(root), workdir / "ledger-archive")
    elapsed = time.perf_counter() - started
    counts = {k: v for k, v in vars(result).items() if isinstance(v, int) and not isinstance(v, bool)}
    print(
        json.dumps(
            {
                "counts": counts,
                "problems": [str(p) for p in list(getattr(result, "problems", []))[:5]],
                "signals": Signal.objects.count(),
                "seconds": elapsed,
                "hwm_before_mb": before,
                "hwm_mb": vm_hwm_mb(),
            }
        ),
        flush=True,
    )


def template_contracts(count: int) -> list[dict]:
    """Real stored contracts: ingest ``count`` signals once (in a child, on SQLite) and read them back."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", "templates", "--observations", str(count)],
        check=True,
        stdout=subprocess.PIPE,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def templates_child(observations: int) -> None:
    workdir = fresh_workdir("omen-bench-ledger-templates-")
    setup_django(workdir, f"sqlite:///{workdir / 'templates.sqlite3'}", LEDGER_DRAIN_ON_COMMIT="off")
    from django.core.management import call_command

    from signals.models import Signal
    from signals.services.ingest import signals_ingest
    from signals.sources.polymarket import parse_markets

    call_command("migrate", verbosity=0)
    fetched_at = datetime(2026, 11, 1, tzinfo=UTC)
    signals_ingest(records=parse_markets(list(synthetic_markets(observations, observations)), fetched_at=fetched_at))
    print(json.dumps([contract for (contract,) in Signal.objects.values_list("contract")]), flush=True)


def bench_replay(workdir: Path, backend: str, ledger_mb: int, templates: int, batch: int) -> None:
    why_not = replay_available()
    if why_not:
        print(f"replay: skipped, {why_not}", flush=True)
        return
    from signals.models.contract import canonical_json

    stored = template_contracts(templates)

    def fields(n: int) -> dict:
        # A real contract with its identities made unique; everything else stays as stored.
        contract = dict(stored[n % len(stored)])
        contract.update(signal_id=f"OMEN-{n:012X}", trace_id=f"{n:016x}", input_event_hash=f"{n:064x}")
        return {
            "signal_id": contract["signal_id"],
            "trace_id": contract["trace_id"],
            "input_event_hash": contract["input_event_hash"],
            "source_event_id": contract["source_event_id"],
            "ruleset_version": contract["ruleset_version"],
            "observed_at": contract["observed_at"],
            "emitted_at": contract["generated_at"],
            "contract_json": canonical_json(contract).encode(),
        }

    root = workdir / "replay-ledger"
    frames, size, paths, seconds = build_ledger(root, ledger_mb * 10**6, fields, batch)
    print(
        f"replay: built {size / MB:.0f} MB, {frames} frames of {size / frames:.0f} bytes from {len(stored)} real "
        f"contracts, {len(paths)} segments, in {seconds:.1f} s",
        flush=True,
    )
    try:
        fig = child_figures(["--child", "replay", "--backend", backend, "--root", str(root)])
    except subprocess.CalledProcessError as exc:
        print(f"        ledger_replay failed in the child (exit {exc.returncode}): see its traceback above", flush=True)
        return
    finally:
        shutil.rmtree(root)
    print(
        f"        ledger_replay ({backend}): {fig['signals']} signals from {size / MB:.0f} MB "
        f"in {fig['seconds']:.2f} s = {size / MB / fig['seconds']:.1f} MB/s "
        f"({fig['signals'] / fig['seconds']:.0f} signals/s); child peak RSS "
        f"{fig['hwm_mb']:.0f} MB (before replay {fig['hwm_before_mb']:.0f} MB); result {fig['counts']}",
        flush=True,
    )
    for problem in fig["problems"]:
        print(f"        problem: {problem}", flush=True)


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--frames", type=int, default=100_000, help="append: frames written per run")
    parser.add_argument("--batch", type=int, default=2000, help="frames per append (LEDGER_BATCH_FRAMES)")
    parser.add_argument("--frame-bytes", type=int, default=1300, help="synthetic frame size, header included")
    parser.add_argument("--rounds", type=int, default=3, help="append: raw/group rounds, medians compared")
    parser.add_argument("--observations", type=int, default=100_000, help="ingest: observations per run")
    parser.add_argument("--markets", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=2000, help="ingest: as signals_ingest's default")
    parser.add_argument("--ingest-rounds", type=int, default=2, help="ingest: off/on pairs, alternating order")
    parser.add_argument("--ledger-mb", type=int, default=1000, help="verify/replay: ledger size, MB (10^6 bytes)")
    parser.add_argument("--templates", type=int, default=3000, help="replay: real contracts to vary")
    parser.add_argument("--child", choices=["ingest", "verify", "replay", "templates"], help=argparse.SUPPRESS)
    parser.add_argument("--ledger", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--reconcile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "ingest":
        return ingest_child(args.backend, args.ledger, args.observations, args.markets, args.batch_size)
    if args.child == "verify":
        return verify_child(args.root, args.reconcile)
    if args.child == "replay":
        return replay_child(args.backend, args.root)
    if args.child == "templates":
        return templates_child(args.observations)

    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}: use {', '.join(PARTS)}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    workdir = fresh_workdir("omen-bench-ledger-")
    print(machine_basics(workdir), flush=True)
    if "postgresql" in backends:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
            print(f"postgresql: {conn.execute('SHOW server_version').fetchone()[0]}", flush=True)
    if "append" in parts:
        bench_append(workdir, args.frames, args.batch, args.frame_bytes, args.rounds)
    if "ingest" in parts:
        for backend in backends:
            bench_ingest(backend, args.observations, args.markets, args.batch_size, args.ingest_rounds)
    if "verify" in parts:
        bench_verify(workdir, args.ledger_mb, args.frame_bytes, args.batch)
    if "replay" in parts:
        for backend in backends:
            bench_replay(workdir, backend, args.ledger_mb, args.templates, args.batch)


if __name__ == "__main__":
    main()
