from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from omen_site.operations import docs, health, metrics

admin.site.site_header = "OMEN signals"
admin.site.site_title = "OMEN"
admin.site.index_title = "Signals, sources and the ledger"
# The stock index with the dashboard above the app list (omen_site/dashboard.py). Named, not an
# admin/index.html of omen_site's own: the admin app, listed first, would have its own found first.
admin.site.index_template = "admin/omen_index.html"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # Each app's endpoints, by the app that owns the data; the site adds the schema and its docs.
    path("api/v1/", include("signals.api.urls")),
    path("api/v1/", include("ledger.api.urls")),
    path("api/v1/", include("omen_site.api.urls")),
    path("api/schema/", docs.schema, name="api-schema"),
    path("api/docs/", docs.swagger_ui, name="api-docs"),
    path("api/redoc/", docs.redoc, name="api-redoc"),
    # Operations (omen_site/operations/): no trailing slash, the paths probes and Prometheus expect.
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/", health.ready, name="health"),
    path("metrics", metrics.metrics, name="metrics"),
]

# JSON in the API's error shape under /api/, Django's pages elsewhere (omen_site/operations/errors.py).
handler400 = "omen_site.operations.errors.bad_request"
handler403 = "omen_site.operations.errors.permission_denied"
handler404 = "omen_site.operations.errors.page_not_found"
handler500 = "omen_site.operations.errors.server_error"
