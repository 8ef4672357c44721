"""PostgreSQL: compress the large text columns with lz4 instead of pglz.

Contracts (~1-5 KB) and recent histories are TOASTed; pglz compression was
the slowest server-side step of a bulk insert here (22k against 51k rows/s
for lz4 at the same size). Needs PostgreSQL 14+ built with lz4 (Debian's and
the official images are); elsewhere, and on SQLite, nothing changes.
"""

from django.db import migrations

COLUMNS = [("signals_signal", "contract"), ("signals_sourceevent", "recent_history")]


def use_lz4(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        if cursor.fetchone() is None:
            return
        for table, column in COLUMNS:
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("signals", "0001_initial")]

    operations = [migrations.RunPython(use_lz4, migrations.RunPython.noop)]
