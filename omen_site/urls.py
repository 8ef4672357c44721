from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "OMEN signals"
admin.site.site_title = "OMEN"
admin.site.index_title = "Signals, sources and the ledger"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
