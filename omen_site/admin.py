from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from omen_site.api.keys import SCOPES, ApiKey


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "throttle_rate")


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

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} key(s) revoked.")
