"""The ledger as analysts and operators see it: partitions and their tiers, the writer's end, the backlog.

All read-only: the ledger changes only through the writer, sealing and the tier tasks. Webhook
subscriptions are the exception: operators add, filter, pause and resume them here.

The signal page (the signals app's admin, which may not import the ledger) shows a signal's
frames through the section registered here (``SIGNAL_FRAMES_SECTION``, by ``LedgerConfig.ready``);
its "verify this frame" buttons post to ``frame_verify_view``, which re-reads the frame and says
how it went as a message on the signal page.
"""

import secrets

import orjson
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ledger import tasks as ledger_tasks
from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState, WebhookSubscription
from ledger.services import webhooks
from ledger.services.feed import FeedBroken
from ledger.services.frame_refs import FrameRef, frame_verify, signal_frames
from signals.models import Signal
from signals.models.choices import Category, ConfidenceLevel, SignalStatus, SignalType, Source
from signals.public import SignalPageSection
from utilities.admin import ReadOnlyAdmin


def frame_position(frame: FrameRef) -> str:
    """Where a frame is, as frame_verify's reports name it: ``<partition>/<segment>@<offset>``."""
    return f"{frame.partition}/{frame.segment}@{frame.offset}"


def signal_frames_section(request, signal: Signal) -> str:
    """The signal page's "Ledger frames": each frame of the signal, with a button to re-read it."""
    frames = signal_frames(signal.signal_id)
    return render_to_string(
        "admin/ledger/signal_frames.html",
        {
            "frames": [(frame, frame_position(frame)) for frame in frames],
            "verify_url": reverse("admin:ledger_frame_verify", args=[signal.pk]),
        },
        request=request,
    )


SIGNAL_FRAMES_SECTION = SignalPageSection(key="ledger-frames", title="Ledger frames", render=signal_frames_section)


@admin.register(LedgerPartition)
class LedgerPartitionAdmin(ReadOnlyAdmin):
    list_display = ["name", "tier", "frames", "bytes", *LedgerPartition.STEP_TIMES, "last_check"]
    list_filter = ["tier", "check_ok"]
    search_fields = ["name"]
    date_hierarchy = "day"
    ordering = ["-day", "-name"]
    actions = ["verify_now"]
    change_list_template = "admin/ledger/ledgerpartition/change_list.html"

    def has_run_ledger_actions_permission(self, request) -> bool:
        return request.user.has_perm("ledger.run_ledger_actions")

    @admin.display(description="last check")
    def last_check(self, obj):
        if obj.checked_at is None:
            return "-"
        outcome = "ok" if obj.check_ok else "FAILED"
        when = f"{obj.checked_at:%Y-%m-%d %H:%M}"
        return format_html('<span title="{}">{} {}</span>', obj.check_result, outcome, when)

    @admin.action(description="Verify now (read the selected partitions back)", permissions=["run_ledger_actions"])
    def verify_now(self, request, queryset):
        # A task each, on the worker that holds the ledger's volumes; the list's "last check" says
        # how each went once it has run.
        names = list(queryset.values_list("name", flat=True))
        for name in names:
            ledger_tasks.partition_verify.delay(name)
        self.message_user(
            request, f"Verifying {len(names)} partition(s); their last check shows the outcome when it is done."
        )

    def get_urls(self):
        seal_now = self.admin_site.admin_view(self.seal_now_view)
        verify = self.admin_site.admin_view(self.frame_verify_view)
        return [
            path("seal-now/", seal_now, name="ledger_ledgerpartition_seal_now"),
            path("frame-verify/<int:signal_pk>/", verify, name="ledger_frame_verify"),
            *super().get_urls(),
        ]

    def frame_verify_view(self, request, signal_pk):
        """Re-read one frame of a signal (a POST from its page's "verify this frame"), then back to
        the signal page with the outcome as a message. Anyone who may see the signal may: it only reads.

        The frame is looked up among the signal's own, so a request names no file of its own choosing.
        """
        if request.method != "POST" or not request.user.has_perm("signals.view_signal"):
            raise PermissionDenied
        signal = get_object_or_404(Signal.objects.only("pk", "signal_id"), pk=signal_pk)
        wanted = request.POST.get("frame", "")
        frame = next((frame for frame in signal_frames(signal.signal_id) if frame_position(frame) == wanted), None)
        if frame is None:
            self.message_user(request, f"{signal.signal_id} has no frame at {wanted!r}.", messages.ERROR)
        else:
            check = frame_verify(frame)
            outcome, level = ("passed", messages.SUCCESS) if check.ok else ("FAILED", messages.ERROR)
            self.message_user(
                request,
                f"Frame {wanted} (sequence {frame.sequence}) of {signal.signal_id}: verify {outcome}. {check.detail}",
                level,
            )
        return redirect("admin:signals_signal_change", signal.pk)

    def seal_now_view(self, request):
        """Seal every partition whose day is over by LEDGER_SEAL_AFTER_HOURS, now rather than at the
        next hourly run (a POST from the list's "Seal now" button)."""
        if request.method != "POST" or not self.has_run_ledger_actions_permission(request):
            raise PermissionDenied
        ledger_tasks.partitions_seal_due.delay()
        self.message_user(request, "Sealing the partitions that are due; they appear here once sealed.")
        return redirect("admin:ledger_ledgerpartition_changelist")

    def changelist_view(self, request, extra_context=None):
        may_run = self.has_run_ledger_actions_permission(request)
        extra_context = {**(extra_context or {}), "may_run_ledger_actions": may_run}
        return super().changelist_view(request, extra_context)


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

    # A bulk delete's row holds its saves (deletes) in one: signal_id names the first.
    list_display = ["id", "operation", "signal_id", "saves", "saved_at"]
    list_filter = ["operation"]
    search_fields = ["=signal_id"]
    ordering = ["id"]

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            # And the bulk rows that hold the signal's delete past their first: each deletion record
            # names its signal as orjson wrote it (the outbox is short: a scan of it is cheap).
            named = f'"signal_id":{orjson.dumps(term).decode()}'
            results |= queryset.filter(saves__gt=1, contract__contains=named)
        return results, may_have_duplicates


def _choices_ticked(choices, every: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=choices, required=False, widget=forms.CheckboxSelectMultiple, help_text=f"None ticked: {every}."
    )


class WebhookSubscriptionForm(forms.ModelForm):
    """The filters as the API takes them (ledger/api/serializers.py): lists of known choices, minimums
    from 0 to 1. Typed as the model's JSON, a filter could be anything: a number made every delivery
    raise, a string matched by substring, a misspelt choice never matched, and null was a 500."""

    sources = _choices_ticked(Source.choices, "every source")
    signal_types = _choices_ticked(SignalType.choices, "every type")
    statuses = _choices_ticked(SignalStatus.choices, "every status")
    categories = _choices_ticked(Category.choices, "every category")
    confidence_levels = _choices_ticked(ConfidenceLevel.choices, "every level")
    min_probability = forms.FloatField(min_value=0, max_value=1, required=False)
    min_confidence = forms.FloatField(min_value=0, max_value=1, required=False)
    # No Meta: the admin makes the model form from this one, its other fields through
    # formfield_for_dbfield and formfield_overrides.

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            # A new subscription starts at the ledger's end, found here so that a ledger that
            # cannot say where it ends is an error on the form, not a server error on saving.
            try:
                self.ledger_end = webhooks.ledger_end()
            except (FeedBroken, OSError) as exc:
                raise ValidationError(
                    f"The ledger cannot say where it ends, where this subscription would start: {exc}"
                ) from exc
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
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

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "secret":
            kwargs["strip"] = False  # the receiver signs with the secret as given: byte for byte
            kwargs["min_length"] = WebhookSubscription.SECRET_MIN_LENGTH
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_exclude(self, request, obj=None):
        # The secret is shown when the subscription is made, never again (as in the API).
        return ["secret"] if obj is not None else []

    def get_changeform_initial_data(self, request):
        return {"secret": secrets.token_urlsafe(32)}

    def save_model(self, request, obj, form, change):
        if change:
            if not webhooks.subscription_save_edit(obj, form.changed_data):
                raise Http404(f"Webhook subscription {obj.pk} was deleted while it was being edited.")
        else:
            obj.cursor = form.ledger_end  # from now on, like the API
            super().save_model(request, obj, form, change)

    @admin.action(description="Resume delivery from the signal that paused it")
    def resume(self, request, queryset):
        paused = [subscription for subscription in queryset if subscription.paused]
        for subscription in paused:
            webhooks.subscription_resume(subscription)
            self.log_change(request, subscription, "Resumed.")  # the audit trail: who resumed it, when
        self.message_user(request, f"{len(paused)} subscription(s) resumed.", messages.SUCCESS)
