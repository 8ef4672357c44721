"""The site's own endpoints under /api/v1/: what spans the apps (the storage report)."""

urlpatterns = []
