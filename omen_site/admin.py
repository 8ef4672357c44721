from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from omen_site.api.access_log import ApiAccessLogEntry
from omen_site.api.keys import SCOPES, ApiKey
from omen_site.api.rates import RATE_FORMAT, parse_rate
from omen_site.audit_trail import describe, trail_of
from omen_site.operations.metrics import KNOWN_METHODS
from utilities.admin import MinMaxDateHierarchyMixin, ReadOnlyAdmin

User = get_user_model()


if admin.site.is_registered(User):  # by django.contrib.auth, which comes before the site in INSTALLED_APPS
    admin.site.unregister(User)


@admin.register(User)
class OmenUserAdmin(UserAdmin):
    """Django's user admin, but a user the audit trail names is not deleted (omen_site/audit_trail.py).

    Such a user is listed as protected, so the delete page and the "delete selected" action show
    why and refuse, as they do for any protected object; the templates under
    templates/admin/auth/user/ say to deactivate the user instead. A user nothing names is deleted
    as before.
    """

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        named = trail_of([user.pk for user in objs])
        opts = self.model._meta
        protected = list(protected) + [
            format_html(
                '{}: <a href="{}">{}</a>, named by the audit trail: {}',
                capfirst(opts.verbose_name),
                reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[user.pk]),
                user,
                describe(named[user.pk]),
            )
            for user in objs
            if user.pk in named
        ]
        return deleted, model_count, perms_needed, protected


if admin.site.is_registered(PeriodicTask):  # by django_celery_beat, which comes before the site
    admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class OmenPeriodicTaskAdmin(PeriodicTaskAdmin):
    """django_celery_beat's, but its list's actions write the admin's change log, as its form does.

    They change the tasks with a queryset UPDATE, which logs nothing: who switched the retention
    sweep, the backup or a source's polls off (or ran one now), and when, was recorded nowhere.
    """

    def _logged(self, request, queryset, action):
        tasks = list(queryset)  # the selection, as it stood: a toggle changes what a filter matches
        response = action(request, queryset)
        enabled = dict(PeriodicTask.objects.filter(pk__in=[task.pk for task in tasks]).values_list("pk", "enabled"))
        for task in tasks:
            self.log_change(request, task, "Enabled." if enabled.get(task.pk) else "Disabled.")
        return response

    @admin.action(description=PeriodicTaskAdmin.enable_tasks.short_description)
    def enable_tasks(self, request, queryset):
        return self._logged(request, queryset, super().enable_tasks)

    @admin.action(description=PeriodicTaskAdmin.disable_tasks.short_description)
    def disable_tasks(self, request, queryset):
        return self._logged(request, queryset, super().disable_tasks)

    @admin.action(description=PeriodicTaskAdmin.toggle_tasks.short_description)
    def toggle_tasks(self, request, queryset):
        return self._logged(request, queryset, super().toggle_tasks)

    @admin.action(description=PeriodicTaskAdmin.run_tasks.short_description)
    def run_tasks(self, request, queryset):
        tasks = list(queryset)
        response = super().run_tasks(request, queryset)
        # With a task the worker does not know, none was sent (the action says so): nothing to log.
        if all(self.celery_app.tasks.get(task.task) for task in tasks):
            for task in tasks:
                self.log_change(request, task, "Sent to run now.")
        return response


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "throttle_rate")

    def clean_throttle_rate(self):
        """Refused on the form, by the field: ApiKey.issue would raise it in save_model, a 500."""
        rate = self.cleaned_data.get("throttle_rate", "").strip()
        if rate:
            try:
                parse_rate(rate)
            except ValueError:
                message = f"Not a rate: write {RATE_FORMAT} (e.g. 1000/min), or leave it blank."
                raise forms.ValidationError(message) from None
        return rate


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here (shown once) and revoked here; the key itself is never stored."""

    list_display = ("name", "prefix", "scopes", "throttle_rate", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "=prefix")
    readonly_fields = (
        "name",
        "prefix",
        "scopes",
        "throttle_rate",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return ("name", "scopes", "throttle_rate") if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # a key is not edited: revoke it and create another

    def save_model(self, request, obj, form, change):
        key, raw = ApiKey.issue(
            form.cleaned_data["name"],
            form.cleaned_data["scopes"],
            created_by=request.user,
            throttle_rate=form.cleaned_data.get("throttle_rate", ""),
        )
        obj.pk = key.pk  # the admin's redirect and log entry name the key created
        messages.warning(request, f"The new key, shown this once: {raw}")

    # Revoking ends a key as deleting would, and keys are never changed: so it needs delete.
    @admin.action(description="Revoke the selected keys", permissions=["delete"])
    def revoke(self, request, queryset):
        # Key by key, not one UPDATE: a save tells this process to stop trusting the key at once
        # (an UPDATE left it trusted for its second), and the change log records who revoked it.
        revoked = [key for key in queryset.filter(revoked_at__isnull=True) if key.revoke()]
        for key in revoked:
            self.log_change(request, key, "Revoked.")
        self.message_user(request, f"{len(revoked)} key(s) revoked.")


class StatusClassFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status_class"

    def lookups(self, request, model_admin):
        return [("2", "2xx success"), ("3", "3xx redirect"), ("4", "4xx client error"), ("5", "5xx server error")]

    def queryset(self, request, queryset):
        if self.value() not in {"2", "3", "4", "5"}:
            return queryset
        lowest = int(self.value()) * 100
        return queryset.filter(status_code__gte=lowest, status_code__lt=lowest + 100)


class MethodFilter(admin.SimpleListFilter):
    """A fixed list: a filter on the column itself would run SELECT DISTINCT over the table."""

    title = "method"
    parameter_name = "method"

    def lookups(self, request, model_admin):
        return [(method, method) for method in sorted(KNOWN_METHODS)]

    def queryset(self, request, queryset):
        return queryset.filter(method=self.value()) if self.value() else queryset


@admin.register(ApiAccessLogEntry)
class ApiAccessLogEntryAdmin(MinMaxDateHierarchyMixin, ReadOnlyAdmin):
    """Read-only: entries are evidence, and retention's sweep is what deletes them."""

    list_display = ("created_at", "method", "path", "status_code", "duration_ms", "caller", "client_address")
    list_filter = (StatusClassFilter, MethodFilter, "api_key")
    list_select_related = ("api_key", "user")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    @admin.display(description="caller")
    def caller(self, entry):
        if entry.api_key is not None:
            return f"key {entry.api_key.name}"
        if entry.api_key_prefix:
            return f"key {entry.api_key_prefix} (deleted)"
        if entry.user is not None:
            return f"user {entry.user.get_username()}"
        return "-"
