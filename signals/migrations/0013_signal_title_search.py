"""The admin's title search served by a trigram index on PostgreSQL; SQLite keeps its LIKE scan.

The admin searches titles with ``title__icontains``, which PostgreSQL runs as
``UPPER(title::text) LIKE UPPER('%word%')``: a GIN trigram index on that very expression serves
it (and the API's ``?title=`` filter, the same lookup), where a B-tree cannot serve a leading
wildcard. The index lives in this migration only: the model's Meta cannot declare an index that
exists on one backend, and no model state changes, so ``makemigrations`` sees nothing to do.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class TrigramExtensionOnPostgreSQL(TrigramExtension):
    """pg_trgm, made on PostgreSQL only (TrigramExtension itself skips other backends going forward).

    Going back it keeps the extension: another index or a DBA's own may use it, and Django's
    operation would query pg_extension on SQLite.
    """

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass


class RunSQLOnPostgreSQL(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    # CONCURRENTLY: building the index over millions of signals must not stop ingest writing them,
    # and it cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("signals", "0012_signal_export_permission"),
    ]

    operations = [
        TrigramExtensionOnPostgreSQL(),
        RunSQLOnPostgreSQL(
            sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS signal_title_trgm_idx "
            "ON signals_signal USING gin (UPPER(title) gin_trgm_ops)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS signal_title_trgm_idx",
        ),
    ]
