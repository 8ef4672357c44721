from datetime import UTC, timedelta

from django.utils import timezone
from rest_framework import serializers

from signals.models import Rejection, Signal, SourceEvent

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


def _utc_iso(moment) -> str:
    """A stored moment as DRF's DateTimeField writes it (settings: UTC): ISO 8601, "Z" for +00:00."""
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SignalListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = LIST_FIELDS

    def to_representation(self, signal):
        # The fields' own to_representation, one call each, was a quarter of a list request's CPU
        # (bench/api.py); the same values, written directly. The declared fields still give the schema.
        return {
            "signal_id": signal.signal_id,
            "source": signal.source,
            "source_event_id": signal.source_event_id,
            "signal_type": signal.signal_type,
            "status": signal.status,
            "category": signal.category,
            "confidence_level": signal.confidence_level,
            "title": signal.title,
            "probability": signal.probability,
            "confidence": signal.confidence,
            "observed_at": _utc_iso(signal.observed_at),
            "generated_at": _utc_iso(signal.generated_at),
        }


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


class SignalDetailSerializer(SignalFullSerializer):
    """The schema of one signal, whatever ``detail`` asked for: what a level leaves out is optional.

    Three components in a oneOf would not do: a fuller body matches the leaner schemas too.
    """

    contract = serializers.JSONField(required=False, help_text="The signal contract, exactly as stored (full).")

    class Meta(SignalFullSerializer.Meta):
        extra_kwargs = {name: {"required": False, "help_text": "standard and full"} for name in IDENTITY_FIELDS}


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


SOURCE_EVENT_FIELDS = (
    "id",
    "source",
    "external_id",
    "source_event_id",
    "title",
    "url",
    "first_seen_at",
    "last_seen_at",
    "last_probability",
    "latest_signal_id",
)


class SourceEventSerializer(serializers.ModelSerializer):
    source_event_id = serializers.CharField(read_only=True, help_text="The contract's name for it, source-external_id.")
    # Plain text, not a URL: it is what the source gave, and not every source gives a valid URL.
    url = serializers.CharField(read_only=True)
    last_seen_at = serializers.DateTimeField(read_only=True, help_text="When it was last observed.")
    last_probability = serializers.FloatField(
        read_only=True, allow_null=True, help_text="The probability of its newest observation."
    )
    latest_signal_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="The signal its newest accepted observation became, if any."
    )

    class Meta:
        model = SourceEvent
        fields = SOURCE_EVENT_FIELDS


class SourceEventDetailSerializer(SourceEventSerializer):
    signal_count = serializers.IntegerField(read_only=True, help_text="Signals of this event, all of them.")

    class Meta:
        model = SourceEvent
        fields = (*SOURCE_EVENT_FIELDS, "signal_count")


WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_WINDOW = "24h"


class WindowSerializer(serializers.Serializer):
    """The query of ``stats/``: a named window ending at ``until`` (default now), or ``since``.

    Valid, it holds the window as [``since``, ``until``), both in UTC.
    """

    window = serializers.ChoiceField(
        choices=list(WINDOWS), required=False, help_text="The last 24 hours (the default), 7 or 30 days."
    )
    since = serializers.DateTimeField(required=False, help_text="The window's start (inclusive); not with window.")
    until = serializers.DateTimeField(required=False, help_text="The window's end (exclusive); default now.")

    def validate(self, attrs):
        window, since = attrs.get("window"), attrs.get("since")
        if window is not None and since is not None:
            raise serializers.ValidationError({"window": "Send window or since, not both."})
        until = attrs.get("until") or timezone.now()
        if since is None:
            try:
                since = until - WINDOWS[window or DEFAULT_WINDOW]
            except OverflowError:
                raise serializers.ValidationError({"until": "Too early to end a window."}) from None
        if since >= until:
            raise serializers.ValidationError({"since": "The window must start before it ends (until)."})
        return {"since": since.astimezone(UTC), "until": until.astimezone(UTC)}


class SignalCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_source = serializers.DictField(child=serializers.IntegerField())
    by_type = serializers.DictField(child=serializers.IntegerField())
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_confidence_level = serializers.DictField(child=serializers.IntegerField())


class RejectionReasonSerializer(serializers.Serializer):
    rule = serializers.CharField()
    reason = serializers.CharField()
    count = serializers.IntegerField()


class RejectionCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    top_reasons = RejectionReasonSerializer(many=True, help_text="The most frequent, at most 10, most first.")


class StatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    signals = SignalCountsSerializer(help_text="Signals generated in the window.")
    rejections = RejectionCountsSerializer(help_text="Rejections recorded in the window.")
    pass_rate = serializers.FloatField(
        allow_null=True, help_text="signals / (signals + rejections); null when there were neither."
    )
