"""``manage.py restore PATH --database-url URL``: put a backup into an empty database.

Every file is checked against the backup's SHA256SUMS first (exit 2 names a damaged one); a target
that is not empty, or of the other backend, is refused (exit 1). Neither the configured database
nor the ledger's directories are touched. A restore that succeeded but could not record the backup
proven in the restored database exits 0 with a warning saying why.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from retention.services.backup import BackupDamaged, BackupError, backup_restore

DAMAGED = 2


class Command(BaseCommand):
    help = (
        "Restore a backup (a directory of BACKUP_DIR) into an empty database, after checking its checksums. "
        "Exit status: 0 restored (with a warning when the restored database could not record the backup "
        "proven); 2 a file of the backup is missing or does not match SHA256SUMS; 1 anything else (no such "
        "backup, a target that is not empty or of the other kind, the restore failing); 64 a bad argument."
    )
    # It reads a backup and writes the target alone: a restore must work while the configured
    # database, or a directory the checks look at, is what is being recovered.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="the backup's directory, or its name in BACKUP_DIR")
        parser.add_argument(
            "--database-url",
            required=True,
            help="the empty database to restore into, of the backup's kind: postgres://USER@HOST:5432/NAME "
            "(created beforehand, empty) or sqlite:////path/to/new.sqlite3",
        )

    def handle(self, *args, path, database_url, **options):
        if not path.is_dir() and (Path(settings.BACKUP_DIR) / path).is_dir():
            path = Path(settings.BACKUP_DIR) / path
        if not path.is_dir():
            raise CommandError(f"{path}: no such backup directory")
        try:
            restored = backup_restore(path, database_url)
        except BackupDamaged as exc:
            raise CommandError(str(exc), returncode=DAMAGED) from None
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = restored.manifest
        self.stdout.write(
            f"restored backup {manifest['backup']} ({manifest['backend']}, taken {manifest['started_at']}) into "
            f"{restored.target}: {len(restored.tables)} tables, {sum(restored.tables.values()):,} rows, each table "
            "as the backup counted it"
        )
        self.stdout.write(
            "next: point DATABASE_URL at it, run `manage.py migrate` (a backup from an older release) and "
            "`manage.py ledger verify`"
        )
        if restored.unrecorded:
            # Exit 0 all the same: the data is restored and counted; only the backup's own row is not.
            self.stderr.write(
                f"warning: {restored.unrecorded}. That database does not list backup {manifest['backup']} as "
                "proven, so its backups retention policy does not keep this backup as the newest proven one"
            )
