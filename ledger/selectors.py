"""Read-only questions about the ledger, for reports and the admin."""

from django.db.models import Count, Sum

from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState


def ledger_summary() -> dict:
    """Where the ledger ends, how much it holds, what waits for the writer, and the tiers."""
    state = LedgerWriterState.objects.filter(pk=1).first()
    tiers = {
        row["tier"]: {"partitions": row["partitions"], "frames": row["frames"] or 0, "bytes": row["bytes"] or 0}
        for row in LedgerPartition.objects.values("tier").annotate(
            partitions=Count("id"), frames=Sum("frames"), bytes=Sum("bytes")
        )
    }
    return {
        "frames_written": state.frames_written if state else 0,
        "end": f"{state.partition}/{state.segment}@{state.offset}" if state and state.segment else None,
        "last_written_at": state.updated_at.isoformat() if state and state.updated_at else None,
        "saves_waiting": LedgerOutbox.objects.count(),
        "sealed_partitions_by_tier": tiers,
    }
