"""The ledger as analysts and operators see it: partitions and their tiers, the writer's end, the backlog.

All read-only: the ledger changes only through the writer, sealing and the tier tasks. Webhook
subscriptions are the exception: operators add, filter, pause and resume them here.
"""

import secrets

from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html, format_html_join

from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState, WebhookSubscription
from ledger.services import webhooks
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


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "state", "cursor", "delivered", "last_delivered_at", "pause_reason"]
    list_filter = ["active", ("paused_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "url"]
    readonly_fields = [*WebhookSubscription.DELIVERY_STATE_FIELDS, "recent_attempts"]
    actions = ["resume"]
    # A URL typed without a scheme is https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="recent delivery attempts")
    def recent_attempts(self, subscription):
        # The newest twenty: a receiver that failed for days has thousands.
        rows = subscription.attempts.order_by("-id")[:20] if subscription.pk else []
        return (
            format_html_join(
                "\n",
                "<div>{} · position {} · {} · try {} · {} · {} · {} ms {}</div>",
                (
                    (
                        a.attempted_at,
                        a.position,
                        a.signal_id,
                        a.attempt,
                        a.outcome,
                        a.status_code or "-",
                        a.duration_ms,
                        a.error,
                    )
                    for a in rows
                ),
            )
            or "none yet"
        )

    @admin.display(description="state")
    def state(self, subscription):
        if subscription.paused:
            return format_html('<strong style="color: var(--error-fg, #ba2121)">{}</strong>', "paused")
        return "active" if subscription.active else "off"

    def get_exclude(self, request, obj=None):
        # The secret is shown when the subscription is made, never again (as in the API).
        return ["secret"] if obj is not None else []

    def get_changeform_initial_data(self, request):
        return {"secret": secrets.token_urlsafe(32)}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.cursor = webhooks.ledger_end()  # from now on, like the API
        super().save_model(request, obj, form, change)

    @admin.action(description="Resume delivery from the signal that paused it")
    def resume(self, request, queryset):
        paused = [subscription for subscription in queryset if subscription.paused]
        for subscription in paused:
            webhooks.subscription_resume(subscription)
        self.message_user(request, f"{len(paused)} subscription(s) resumed.", messages.SUCCESS)
