from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.text import Truncator

from retention.models import Backup, LegalHold, RetentionPolicy, RetentionRun, SignalArchive
from retention.policies import DEFAULTS, effective_policies, format_duration
from utilities.admin import ReadOnlyAdmin, pretty_json


class _PolicyChangeList(ChangeList):
    def get_results(self, request):
        # Every row's policy as it applies, read once for the page: each row's columns read them
        # all again otherwise (two reads a row).
        super().get_results(request)
        policies = effective_policies()
        for row in self.result_list:
            row.effective = policies[row.name]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    """One row per policy of the table; blank values follow the default (or its environment override)."""

    list_display = ["name", "keeps", "set_by_whom", "action", "enabled", "changed_by", "changed_at"]
    fields = ["name", "covers", "default", "keep_for", "max_per_key", "enabled", "changed_by", "changed_at"]
    readonly_fields = ["name", "covers", "default", "changed_by", "changed_at"]
    list_select_related = ["changed_by"]

    def get_changelist(self, request, **kwargs):
        return _PolicyChangeList

    def get_queryset(self, request):
        # Every policy of the table has its row, so an operator finds each one to change.
        existing = set(RetentionPolicy.objects.values_list("name", flat=True))
        RetentionPolicy.objects.bulk_create(
            [RetentionPolicy(name=name) for name in DEFAULTS if name not in existing], ignore_conflicts=True
        )
        return super().get_queryset(request)

    def get_fields(self, request, obj=None):
        # Only a policy whose default keeps at most so many per key (probability_history) has a
        # sweeper that reads the limit: on another it would be shown and never applied.
        if obj is not None and DEFAULTS[obj.name].max_per_key is None:
            return [field for field in self.fields if field != "max_per_key"]
        return self.fields

    def has_add_permission(self, request):
        return False  # the table's rows come from the code

    def has_delete_permission(self, request, obj=None):
        return False  # blank values are how a row returns to the defaults

    def _effective(self, obj):
        effective = getattr(obj, "effective", None)  # a list row's, read for its page
        return effective if effective is not None else effective_policies()[obj.name]

    @admin.display(description="keeps")
    def keeps(self, obj):
        policy = self._effective(obj)
        text = format_duration(policy.keep_for)
        return f"{text}, at most {policy.max_per_key} per market" if policy.max_per_key else text

    @admin.display(description="from")
    def set_by_whom(self, obj):
        return self._effective(obj).chosen_by

    @admin.display(description="on expiry")
    def action(self, obj):
        return DEFAULTS[obj.name].action.label

    @admin.display(description="covers")
    def covers(self, obj):
        return DEFAULTS[obj.name].covers

    @admin.display(description="default")
    def default(self, obj):
        default = DEFAULTS[obj.name]
        return f"{format_duration(default.keep_for)} ({default.environment_variable} overrides it); {default.why}"

    def save_model(self, request, obj, form, change):
        obj.changed_by, obj.changed_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)  # the admin's change log records what changed


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    """Holds keep records from every sweep. Released, not deleted: the hold itself is evidence."""

    list_display = ["target", "reason", "set_by", "set_at", "released_at"]
    # Both may be null, which Django's own select_related() leaves out: a query per row each.
    list_select_related = ["source_event", "set_by"]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["source_event"]
    readonly_fields = ["set_by", "set_at", "released_at", "released_by"]
    actions = ["release"]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The user's permission first (an analyst views holds), then the hold: a released one is evidence.
        return super().has_change_permission(request, obj) and (obj is None or obj.released_at is None)

    def get_readonly_fields(self, request, obj=None):
        # A hold's target is fixed once set: moving it would release the first target silently.
        fixed = ["signal_id", "source_event", "source"] if obj is not None else []
        return [*fixed, *super().get_readonly_fields(request, obj)]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.set_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Release the selected holds", permissions=["change"])
    def release(self, request, queryset):
        # Hold by hold, each only if it still stands (two operators releasing at once release it
        # once), and each in the change log: the audit trail shows who released what, and when.
        released = 0
        for hold in queryset.filter(released_at__isnull=True):
            if LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
                released_at=timezone.now(), released_by=request.user
            ):
                self.log_change(request, hold, "Released.")
                released += 1
        self.message_user(request, f"{released} hold(s) released.", messages.SUCCESS)


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ["policy", "started_at", "status", "dry_run", "counted", "archived", "deleted", "skipped_on_hold"]
    list_filter = ["policy", "status", "dry_run"]
    date_hierarchy = None


@admin.register(SignalArchive)
class SignalArchiveAdmin(ReadOnlyAdmin):
    list_display = ["day", "rows", "bytes", "sha256", "written_at"]


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    """Backups and their proofs: a failed or unproven one shows as such in the list, filterable."""

    list_display = ["started_at", "status", "proven", "backend", "size", "path", "error_start"]
    list_filter = ["status", ("proven_at", admin.EmptyFieldListFilter), "backend"]
    fields = ["started_at", "finished_at", "status", "proven_at", "backend", "path", "bytes", "sha256", "error",
              "rows_per_table"]  # fmt: skip
    readonly_fields = ["rows_per_table"]

    @admin.display(description="proven", boolean=True)
    def proven(self, obj):
        return obj.proven

    @admin.display(description="size")
    def size(self, obj):
        return filesizeformat(obj.bytes)

    @admin.display(description="error")
    def error_start(self, obj):
        return Truncator(obj.error).chars(160)

    @admin.display(description="rows per table the proof counted")
    def rows_per_table(self, obj):
        return pretty_json(obj.proof)
