"""The site's own endpoints under /api/v1/: what spans the apps (the storage report)."""

from django.urls import path

from omen_site.api.views import StorageReportView

urlpatterns = [path("storage/", StorageReportView.as_view(), name="storage")]
