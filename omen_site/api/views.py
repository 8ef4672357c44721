"""The site's own endpoints: what spans the apps (the storage report)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from omen_site.api.keys import READ_STORAGE
from omen_site.storage import storage_report
from utilities.query_parameters import QueryParametersChecked


class WriterSerializer(serializers.Serializer):
    stalled = serializers.BooleanField()
    pending = serializers.IntegerField(help_text="Saves waiting in the outbox for their frame.")
    oldest_pending_age_seconds = serializers.FloatField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True, help_text="Why the last drain failed; blank if it did not.")
    last_error_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.CharField()


class TierSerializer(serializers.Serializer):
    partitions = serializers.IntegerField()
    frames = serializers.IntegerField()
    bytes = serializers.IntegerField()


class LedgerReportSerializer(serializers.Serializer):
    exists = serializers.BooleanField()
    writable = serializers.BooleanField()
    files = serializers.IntegerField()
    bytes = serializers.IntegerField()
    frames_written = serializers.IntegerField()
    end = serializers.CharField(allow_null=True, help_text="partition/segment@offset of the newest frame.")
    last_written_at = serializers.DateTimeField(allow_null=True)
    saves_waiting = serializers.IntegerField()
    writer = WriterSerializer()
    sealed_partitions_by_tier = serializers.DictField(child=TierSerializer())


class TotalsSerializer(serializers.Serializer):
    signals = serializers.IntegerField()
    source_events = serializers.IntegerField()
    rejections = serializers.IntegerField()


class SourceStatusCountSerializer(serializers.Serializer):
    source = serializers.CharField()
    status = serializers.CharField()
    count = serializers.IntegerField()


class BackupFactsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    age_hours = serializers.FloatField()
    status = serializers.CharField(help_text="running, ok or failed.")
    proven_at = serializers.DateTimeField(allow_null=True, help_text="When its last proof passed; null: unproven.")
    path = serializers.CharField(allow_null=True)
    bytes = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class BackupReportSerializer(serializers.Serializer):
    newest = BackupFactsSerializer(allow_null=True)
    newest_proven = BackupFactsSerializer(allow_null=True)
    problem = serializers.CharField(
        allow_null=True,
        help_text="Why the newest backup cannot be counted on (none yet, failed, not proven); null when it is proven.",
    )


class RetentionLastRunSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField()
    status = serializers.CharField(help_text="running, ok, failed or interrupted.")
    deleted = serializers.IntegerField()


class RetentionPolicyReportSerializer(serializers.Serializer):
    policy = serializers.CharField()
    keep_for_days = serializers.FloatField()
    max_per_key = serializers.IntegerField(allow_null=True)
    enabled = serializers.BooleanField()
    oldest = serializers.DateTimeField(allow_null=True)
    expired = serializers.IntegerField(help_text="Records past their keep-for now (a legal hold may keep some).")
    last_run = RetentionLastRunSerializer(allow_null=True)


class StorageReportSerializer(serializers.Serializer):
    mode = serializers.CharField()
    database_engine = serializers.CharField()
    database = serializers.CharField(help_text="Where the database is, its password hidden.")
    persists_across_restarts = serializers.BooleanField()
    broker = serializers.CharField()
    cache = serializers.CharField()
    ledger_dir = serializers.CharField()
    ledger = LedgerReportSerializer()
    totals = TotalsSerializer()
    signals_by_source_and_status = SourceStatusCountSerializer(many=True)
    oldest_signal_at = serializers.DateTimeField(allow_null=True)
    newest_signal_at = serializers.DateTimeField(allow_null=True)
    backups = BackupReportSerializer()
    retention = RetentionPolicyReportSerializer(many=True)


class StorageReportView(QueryParametersChecked, APIView):
    """Where OMEN keeps its data, whether it survives a restart, how much there is, and the ledger's
    state: what ``manage.py storage_report --json`` prints."""

    read_scope = READ_STORAGE

    @extend_schema(responses=StorageReportSerializer)
    def get(self, request):
        return Response(StorageReportSerializer(storage_report()).data)
