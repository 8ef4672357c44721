"""Relevance terms: the one table here analysts edit."""

from django.contrib import admin

from signals.models import RelevanceTerm
from signals.services.vocabulary import current_vocabulary


@admin.register(RelevanceTerm)
class RelevanceTermAdmin(admin.ModelAdmin):
    """Operators tune relevance without a deploy; the next ingest decides with these terms."""

    list_display = ("term", "kind", "category", "weight", "enabled", "updated_at", "updated_by")
    # Null for a term no one changed in the admin, so Django's own select_related() leaves it out.
    list_select_related = ("updated_by",)
    list_filter = ("kind", "category", "enabled")
    list_editable = ("enabled",)
    search_fields = ("term", "note")
    fieldsets = (
        (
            None,
            {
                "fields": ("term", "kind", "category", "weight", "enabled", "note"),
                "description": (
                    "A watch term counts as a risk term of its category; a phrase also counts for the "
                    "built-in terms inside it. The categories political and macro count only beside a "
                    "major economy (a country, its leader or central bank), disruption only beside a "
                    "facility (a plant, port, mine...). A block term vetoes every question that names it. "
                    "Any change gives new signals a new ruleset version, and so new ids: the next poll "
                    "issues a new signal for every market it accepts."
                ),
            },
        ),
        ("Changes", {"fields": ("updated_by", "created_at", "updated_at")}),
    )
    readonly_fields = ("updated_by", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    def changelist_view(self, request, extra_context=None):
        vocabulary = current_vocabulary()
        extra_context = {
            **(extra_context or {}),
            "subtitle": f"New signals record ruleset version {vocabulary.ruleset_version}",
        }
        return super().changelist_view(request, extra_context)
