"""PostgreSQL: the outbox keeps a delete's contract uncompressed (STORAGE EXTERNAL).

An outbox row lives until the next drain frames it, and is read once: compressing its contract
(~5 KB, for each signal a retention sweep deletes) is CPU spent for nothing. Measured on a sweep
of 100,000 signals (bench/retention.py): appending the batch's outbox rows was a fifth of the
sweep's time, most of it PostgreSQL compressing. On SQLite nothing changes.
"""

from django.db import migrations


def store_uncompressed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "ledger_ledgeroutbox" ALTER COLUMN "contract" SET STORAGE EXTERNAL')


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_webhooks")]

    operations = [migrations.RunPython(store_uncompressed, migrations.RunPython.noop)]
