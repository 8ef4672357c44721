"""``manage.py ledger <verify|drain|seal|tail|replay|import|reindex>``: the operator's tools for the ledger.

Every subcommand exits non-zero on any problem, with the problem's location on stderr: 2 when the
ledger is damaged, 3 when it is intact but its writer is stalled (``verify``, ``drain``), 75 when
part of it cannot be read now but nothing says it is damaged (``tail``: run it again), 1 otherwise.
A bad argument exits 64, not argparse's 2 (``omen_site/startup.py``).
"""

import argparse
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledger.reading import ledger_segments
from ledger.wal import LedgerCorruption, LedgerError, LedgerWriteError

# Exit codes, also documented in --help, the README and docs/operations.md.
DAMAGED = 2  # the ledger's files or their reconciliation with the database are wrong
STALLED = 3  # the ledger is intact but its writer is not keeping up
TRY_AGAIN = 75  # a volume not mounted, a partition moving under every read: sysexits' EX_TEMPFAIL

FOLLOW_POLL_SECONDS = 1  # tail -f: how often it asks for new frames, and reads again what could not be read


class _Bar:
    """A byte progress bar fed by the services' ``progress(done, total)`` callbacks."""

    def __init__(self, desc: str) -> None:
        self.bar = tqdm(total=0, unit="B", unit_scale=True, desc=desc, disable=None)

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.bar.close()


def frame_count(text: str) -> int:
    """``tail -n``: a negative count printed nothing and exited 0, as an empty ledger does."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: how many frames, 0 or more")
    return value


class Command(BaseCommand):
    help = "Verify, drain, seal, tail, replay, import or reindex the signal ledger (WAL frames under LEDGER_DIR)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = commands.add_parser(
            "verify",
            help="check frames, chain, manifests, and reconcile with the database",
            description="Exit status: 0 the ledger is intact and its writer keeps up; 2 damage (a frame, the "
            "chain, a manifest, the recorded end, or a row that disagrees with the ledger); 3 the ledger is "
            "intact but its writer is stalled (saves waiting longer than LEDGER_STALL_AFTER_SECONDS, default "
            "300, a failed last drain, or another database's frames in LEDGER_DIR); 1 verify itself could not run; "
            "64 a bad argument.",
        )
        # --contents is part of the reconciliation: with --no-reconcile it compared nothing, and said OK.
        scope = verify.add_mutually_exclusive_group()
        scope.add_argument("--no-reconcile", action="store_true", help="check the files only")
        scope.add_argument(
            "--contents", action="store_true", help="also compare every stored contract with its latest frame"
        )
        commands.add_parser("drain", help="frame every save still waiting in the outbox, now")
        seal = commands.add_parser("seal", help="seal partitions: those due (default) or the ones named")
        seal.add_argument("partitions", nargs="*", metavar="PARTITION", help="e.g. 2026-11-24")
        seal.add_argument("--force", action="store_true", help="also seal a partition still written today")
        tail = commands.add_parser(
            "tail",
            help="print the newest frames' envelopes, one JSON line each",
            description="Exit status: 0 printed; 2 damage (named by partition, segment and offset; run ledger "
            "verify); 75 part of the ledger cannot be read now, but nothing says it is damaged (a partition "
            "recorded in no directory, as when a volume is not mounted, or moving under every read): run it "
            "again; 1 anything else.",
        )
        tail.add_argument("-n", "--lines", type=frame_count, default=10, help="how many frames, 0 or more (default 10)")
        tail.add_argument(
            "-f",
            "--follow",
            action="store_true",
            help="keep printing frames as they are written; what would exit 75 is waited out, read again every second",
        )
        commands.add_parser("replay", help="rebuild the signals of an empty database from the ledger")
        imports = commands.add_parser(
            "import",
            help="import a ledger written by the original OMEN",
            description="Imports every valid frame, going on past a damaged range at the next valid frame; "
            "exits 1 when anything was skipped, with a table of the damaged ranges. Idempotent.",
        )
        imports.add_argument("directory", type=Path)
        imports.add_argument("--strict", action="store_true", help="stop reading a segment at its first damaged frame")
        commands.add_parser(
            "reindex",
            help="rebuild the frame references (where each signal's frames are) from the segments, every tier",
            description="For a ledger written before frame references existed, or a database restored from a "
            "backup. Each segment is reindexed in a transaction of its own, under the writer's lock; idempotent. "
            "Exits 1 when a frame could not be indexed, naming it.",
        )

    def handle(self, *args, action, **options):
        from ledger.services.feed import FeedDamaged, FeedUnavailable

        try:
            getattr(self, f"_{action}")(**options)
        except FeedDamaged as exc:
            raise CommandError(f"ledger {action}: damaged at {exc}", returncode=DAMAGED) from exc
        except FeedUnavailable as exc:
            raise CommandError(f"ledger {action}: {exc}", returncode=TRY_AGAIN) from exc
        except LedgerCorruption as exc:
            raise CommandError(str(exc), returncode=DAMAGED) from exc
        except LedgerWriteError as exc:
            raise CommandError(str(exc), returncode=STALLED) from exc
        except LedgerError as exc:
            raise CommandError(str(exc)) from exc
        except BrokenPipeError:
            raise  # stdout's reader is gone (`tail | head`): no ledger file is at fault; manage.py ends it
        except OSError as exc:  # reading or moving the ledger's files (verify, seal, tail...)
            from ledger.services.writer import describe_os_error

            raise CommandError(f"ledger {action}: cannot use {describe_os_error(exc)}") from exc

    # ----------------------------------------------------------------- verify

    def _verify(self, no_reconcile, contents, **options):
        from ledger.services.verify import ledger_verify

        started = time.perf_counter()
        with _Bar("verify") as bar:
            report = ledger_verify(reconcile=not no_reconcile, contents=contents, progress=bar)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{report.partitions} partitions ({report.purged} purged, {report.purged_frames} frames gone), "
            f"{report.segments} segments, {report.frames} frames, "
            f"{report.bytes / 1e6:.1f} MB in {seconds:.1f} s"
            + ("" if no_reconcile else f"; {report.signals} signals in the database, {report.pending} saves pending")
        )
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        for problem in report.problems:
            self.stderr.write(str(problem))
        if report.problem_count > len(report.problems):
            self.stderr.write(f"... and {report.problem_count - len(report.problems)} more")
        for reason in report.stalled:
            self.stderr.write(f"writer stalled: {reason}")
        if not report.ok:
            raise CommandError(f"ledger verify found {report.problem_count} problem(s)", returncode=DAMAGED)
        if report.stalled:
            raise CommandError("the ledger is intact, but its writer is stalled", returncode=STALLED)
        self.stdout.write("ledger OK")

    # ----------------------------------------------------------------- drain / seal

    def _drain(self, **options):
        from ledger.services.writer import ledger_drain

        result = ledger_drain()
        for line in result.truncated:
            self.stderr.write(f"torn tail recovered: {line}")
        self.stdout.write(f"{result.frames} frames written, {result.adopted} recorded after a dead writer run")

    def _seal(self, partitions, force, **options):
        from django.utils import timezone

        from ledger.services.seal import SealRefused, partition_seal, partitions_due_to_seal

        sealed = 0

        def say(result) -> None:
            nonlocal sealed
            sealed += 1
            self.stdout.write(f"sealed {result.partition}: {result.frames} frames, {result.bytes} bytes")

        try:
            if partitions:
                for name in partitions:  # each said as it is sealed: a refusal later does not hide it
                    say(partition_seal(name, force=force))
            else:
                now = timezone.now()
                for name in partitions_due_to_seal(now):  # the due ones, each said as it is sealed too
                    say(partition_seal(name, now=now))
        except SealRefused as exc:
            raise CommandError(str(exc)) from exc
        if not sealed:
            self.stdout.write("nothing to seal")

    # ----------------------------------------------------------------- tail

    def _tail(self, lines, follow, **options):
        # The feed's frames, so that tail of everything is the feed from 0: every tier (a frame
        # moved to the archive or long-term storage is still the ledger's), committed frames only
        # (one past the writer's recorded end may yet be cut), each once across segment rotations
        # and tier moves (the position, not a file, says where it stopped).
        self._unavailable = None  # what -f last said it could not read, until a read succeeds
        try:
            end = self._frames_after(0, 0, follow).end
            if end == 0 and ledger_segments(Path(settings.LEDGER_DIR)):
                self.stderr.write(
                    "this database records no frame of the ledger in LEDGER_DIR: none is committed here "
                    "(`ledger replay` rebuilds an empty database from it)"
                )
            after = self._print_frames(max(end - lines, 0) if lines > 0 else end, follow, until=end)
            while follow:
                time.sleep(FOLLOW_POLL_SECONDS)
                after = self._print_frames(after, follow)
        except KeyboardInterrupt:  # Ctrl-C ends a follow quietly, whether it was asleep, waiting or reading
            if not follow:
                raise

    def _frames_after(self, after: int, limit: int, follow: bool):
        """The feed's page. Following, a part of the ledger that cannot be read now is said once on
        stderr and read again every FOLLOW_POLL_SECONDS, from the same position: a volume back
        after a minute costs a follower nothing. Damage ends the command, following or not."""
        from ledger.services.feed import FeedUnavailable, frames_after

        while True:
            try:
                page = frames_after(after, limit)
            except FeedUnavailable as exc:
                if not follow:
                    raise
                if str(exc) != self._unavailable:  # once, not every poll of an hour without the volume
                    self.stderr.write(f"ledger tail: waiting, reading again every {FOLLOW_POLL_SECONDS} s: {exc}")
                    self._unavailable = str(exc)
                time.sleep(FOLLOW_POLL_SECONDS)
                continue
            if self._unavailable is not None:
                self.stderr.write(f"ledger tail: the ledger reads again; following on after position {after}")
                self._unavailable = None
            return page

    def _print_frames(self, after: int, follow: bool, until: int | None = None) -> int:
        """Print the committed frames after position ``after`` (up to ``until``); the last one's position."""
        from ledger.services.feed import MAX_PAGE

        while until is None or after < until:
            # A page at a time from the last frame printed: one read again after a wait prints
            # nothing twice and skips nothing.
            page = self._frames_after(after, MAX_PAGE, follow)
            # Not one committed since the end was read: -n's count stands, and -f prints it next.
            shown = [frame for frame in page.frames if until is None or frame.position <= until]
            for frame in shown:
                self.stdout.write(frame.payload.decode())
            self.stdout.flush()  # a pipe (| jq, a consumer) sees them now, not when a buffer fills
            if not shown:
                break
            after = shown[-1].position
            if not page.has_more:
                break
        return after

    # ----------------------------------------------------------------- replay / import

    def _replay(self, **options):
        from ledger.services.replay import ReplayRefused, ledger_replay

        try:
            with _Bar("replay") as bar:
                result = ledger_replay(
                    Path(settings.LEDGER_DIR),
                    Path(settings.LEDGER_ARCHIVE_DIR),
                    Path(settings.LEDGER_LONG_TERM_DIR),
                    progress=bar,
                )
        except ReplayRefused as exc:
            raise CommandError(str(exc)) from exc
        for gap in result.purged:
            self.stdout.write(f"purged: {gap}")
        self._report("replay", result)

    def _import(self, directory, strict, **options):
        from ledger.services.import_original import ImportRefused, ledger_import

        try:
            with _Bar(f"import {directory.name}") as bar:
                result = ledger_import(directory, progress=bar, strict=strict)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        if result.damaged:
            self.stderr.write(f"{'partition':<18} {'segment':<18} {'offset':>10} {'bytes skipped':>14}  damage")
            for damaged in result.damaged:
                where = damaged.location
                self.stderr.write(
                    f"{where.partition:<18} {where.segment:<18} {where.offset:>10} {damaged.skipped_bytes:>14}  "
                    f"{damaged.reason}"
                )
        self._report("import", result)

    def _reindex(self, **options):
        from ledger.services.reindex import ledger_reindex

        with _Bar("reindex") as bar:
            result = ledger_reindex(progress=bar)
        self._report("reindex", result)

    def _report(self, what: str, result) -> None:
        counts = {
            key: value
            for key, value in vars(result).items()
            if isinstance(value, int) and not isinstance(value, bool) and key not in {"problem_count", "last_sequence"}
        }
        self.stdout.write(f"{what}: " + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items()))
        for problem in result.problems:
            self.stderr.write(str(problem))
        if result.problem_count > len(result.problems):
            self.stderr.write(f"... and {result.problem_count - len(result.problems)} more")
        if result.problem_count:
            raise CommandError(f"ledger {what} found {result.problem_count} problem(s)")
