"""``manage.py backup``: back up the database now and prove the backup; exit 1 when it failed.

The backup's row records the outcome either way (the admin's Backups, ``storage_report``).
"""

from django.core.management.base import BaseCommand, CommandError

from retention.services.backup import BackupRunning, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database, the ledger's manifests and its writer state into BACKUP_DIR, then prove the backup "
        "by restoring it into a scratch database and counting every table. Exit status: 0 the backup is made "
        "and proven; 1 it failed (its row in the admin and storage_report say why) or another backup is running."
    )

    def handle(self, *args, **options):
        try:
            backup = backup_create()
        except BackupRunning as exc:
            raise CommandError(str(exc)) from None
        where = backup.directory or "no directory"
        if not backup.proven:
            raise CommandError(f"backup {backup.pk} ({where}) failed: {backup.error}")
        self.stdout.write(f"backup {backup.pk}: {where}")
        self.stdout.write(f"  {backup.bytes:,} bytes; the dump's SHA-256 {backup.sha256}")
        self.stdout.write(
            f"  proven {backup.proven_at:%Y-%m-%d %H:%M:%S}: restored (PostgreSQL: into a scratch database; SQLite: "
            "the copy opened and integrity-checked), every table holding the rows the database held at the dump:"
        )
        for table, rows in sorted(backup.proof.items()):
            self.stdout.write(f"    {table:<44} {rows:>12,}")
