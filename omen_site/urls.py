from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

admin.site.site_header = "OMEN signals"
admin.site.site_title = "OMEN"
admin.site.index_title = "Signals, sources and the ledger"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # Each app's endpoints, by the app that owns the data; the site adds the schema and its docs.
    path("api/v1/", include("signals.api.urls")),
    path("api/v1/", include("ledger.api.urls")),
    path("api/v1/", include("omen_site.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
