from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from ledger.models import LedgerPartition, WebhookAttempt, WebhookSubscription
from ledger.services import webhooks
from ledger.services.feed import MAX_PAGE
from ledger.webhook_targets import validate_target
from signals.models.choices import Category, ConfidenceLevel, SignalStatus, SignalType, Source


class FeedQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0, max_value=2**63 - 1, default=0, help_text="The last position you have seen; 0 from the start."
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=100)


class FeedFrameSerializer(serializers.Serializer):
    position = serializers.IntegerField(
        help_text="1, 2, 3... in write order across the whole ledger; a purged partition's positions are skipped."
    )
    partition = serializers.CharField()
    ledger_sequence = serializers.IntegerField(help_text="The envelope's own sequence (restarts in each partition).")
    envelope = serializers.JSONField(help_text="The frame's envelope, byte for byte as stored.")


class FeedPageSerializer(serializers.Serializer):
    after = serializers.IntegerField()
    next_after = serializers.IntegerField(help_text="Ask with after=this for the next page.")
    end = serializers.IntegerField(help_text="The position of the last committed frame.")
    has_more = serializers.BooleanField()
    frames = FeedFrameSerializer(many=True)


class PartitionSerializer(serializers.ModelSerializer):
    sealed = serializers.SerializerMethodField()

    class Meta:
        model = LedgerPartition
        fields = (
            "name",
            "day",
            "tier",
            "sealed",
            "frames",
            "bytes",
            "first_sequence",
            "last_sequence",
            "chain_start",
            "chain_head",
            "manifest_sha256",
            *LedgerPartition.STEP_TIMES,
        )

    def get_sealed(self, partition) -> bool:
        return partition.sealed_at is not None


def _choices_list(choices, help_text: str):
    return serializers.ListField(
        child=serializers.ChoiceField(choices=choices), required=False, max_length=50, help_text=help_text
    )


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="http or https; POSTed each matching new signal.")
    secret = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,  # the receiver signs with the secret as given: byte for byte
        min_length=WebhookSubscription.SECRET_MIN_LENGTH,
        max_length=128,
        help_text="The HMAC-SHA256 key of X-OMEN-Signature; omitted: one is made and shown once.",
    )
    sources = _choices_list(Source.choices, "Empty: every source.")
    signal_types = _choices_list(SignalType.choices, "Empty: every type.")
    statuses = _choices_list(SignalStatus.choices, "Empty: every status.")
    categories = _choices_list(Category.choices, "Empty: every category.")
    confidence_levels = _choices_list(ConfidenceLevel.choices, "Empty: every level.")
    min_probability = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    min_confidence = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    paused = serializers.BooleanField(read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = (
            "id",
            "name",
            "url",
            "secret",
            "sources",
            "signal_types",
            "statuses",
            "categories",
            "confidence_levels",
            "min_probability",
            "min_confidence",
            "active",
            "paused",
            "paused_at",
            "pause_reason",
            "cursor",
            "delivered",
            "last_delivered_at",
            "created_at",
        )
        read_only_fields = WebhookSubscription.DELIVERY_STATE_FIELDS

    def update(self, instance, validated_data):
        for field, value in validated_data.items():
            setattr(instance, field, value)
        if not webhooks.subscription_save_edit(instance, list(validated_data)):
            raise NotFound(f"Webhook subscription {instance.pk} was deleted while it was being edited.")
        return instance

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http:// or https:// URL.")
        try:
            validate_target(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="internal_address") from None
        return value


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    """The creation reply: the one time the secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="Keep it: it is not shown again.")


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = (
            "id",
            "position",
            "signal_id",
            "attempt",
            "attempted_at",
            "status_code",
            "error",
            "duration_ms",
            "outcome",
        )
