"""The ledger as analysts and operators see it: partitions and their tiers, the writer's end, the backlog.

All read-only: the ledger changes only through the writer, sealing and the tier tasks.
"""

from django.contrib import admin

from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState
from utilities.admin import ReadOnlyAdmin


@admin.register(LedgerPartition)
class LedgerPartitionAdmin(ReadOnlyAdmin):
    list_display = ["name", "tier", "frames", "bytes", "sealed_at", "compressed_at", "archived_at", "verified_at"]
    list_filter = ["tier"]
    search_fields = ["name"]
    date_hierarchy = "day"
    ordering = ["-day", "-name"]


@admin.register(LedgerWriterState)
class LedgerWriterStateAdmin(ReadOnlyAdmin):
    list_display = [
        "partition",
        "segment",
        "offset",
        "segment_frames",
        "frames_written",
        "chain_head",
        "updated_at",
        "last_error",
        "last_error_at",
    ]


@admin.register(LedgerOutbox)
class LedgerOutboxAdmin(ReadOnlyAdmin):
    """Saves waiting for their frame: empty, or about to be, whenever the writer keeps up."""

    list_display = ["id", "operation", "signal_id", "saved_at"]
    list_filter = ["operation"]
    search_fields = ["=signal_id"]
    ordering = ["id"]
