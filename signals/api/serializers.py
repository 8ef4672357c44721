from rest_framework import serializers

from signals.models import Rejection, Signal

LIST_FIELDS = (
    "signal_id",
    "source",
    "source_event_id",
    "signal_type",
    "status",
    "category",
    "confidence_level",
    "title",
    "probability",
    "confidence",
    "observed_at",
    "generated_at",
)
IDENTITY_FIELDS = ("trace_id", "input_event_hash", "ruleset_version")


class SignalListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = LIST_FIELDS


class SignalSerializer(serializers.ModelSerializer):
    """``?detail=standard`` (the default): the columns and ids; ``full`` adds the contract."""

    class Meta:
        model = Signal
        fields = (*LIST_FIELDS, *IDENTITY_FIELDS)


class SignalFullSerializer(serializers.ModelSerializer):
    contract = serializers.JSONField(read_only=True, help_text="The signal contract, exactly as stored.")

    class Meta:
        model = Signal
        fields = (*LIST_FIELDS, *IDENTITY_FIELDS, "contract")


class PointSerializer(serializers.Serializer):
    observed_at = serializers.DateTimeField()
    probability = serializers.FloatField()
    volume = serializers.FloatField()
    liquidity = serializers.FloatField()


class MomentumSerializer(serializers.Serializer):
    change_24h = serializers.FloatField(allow_null=True, help_text="Probability now minus 24 hours before.")
    change_total = serializers.FloatField(allow_null=True, help_text="Newest point minus the oldest shown.")


class HistorySerializer(serializers.Serializer):
    signal_id = serializers.CharField()
    source_event_id = serializers.CharField()
    points = PointSerializer(many=True, help_text="Oldest first, at most the newest 1,000.")
    momentum = MomentumSerializer()


class ExplanationSerializer(serializers.Serializer):
    signal_id = serializers.CharField()
    ruleset_version = serializers.CharField()
    steps = serializers.ListField(child=serializers.DictField(), help_text="Rule by rule, in the order they ran.")
    confidence_interval = serializers.DictField(allow_null=True)
    confidence_factors = serializers.DictField()


class RejectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rejection
        fields = (
            "id",
            "source",
            "external_id",
            "stage",
            "rule",
            "rule_version",
            "status",
            "reason",
            "field",
            "score",
            "excerpt",
            "observed_at",
            "created_at",
        )


class LastRunSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    fetched = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    error = serializers.CharField()


class SourceSerializer(serializers.Serializer):
    source = serializers.CharField()
    health = serializers.CharField(help_text="healthy, degraded, circuit open, disabled or unknown (never polled).")
    breaker = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    last_run = LastRunSerializer(allow_null=True)
