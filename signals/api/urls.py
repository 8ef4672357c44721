from django.urls import path
from rest_framework.routers import SimpleRouter

from signals.api.ingest import SignalIngest
from signals.api.views import RejectionViewSet, SignalViewSet, SourceEventViewSet, SourceViewSet, StatsView

router = SimpleRouter(trailing_slash=True)
router.register("signals", SignalViewSet, basename="signal")
router.register("rejections", RejectionViewSet, basename="rejection")
router.register("sources", SourceViewSet, basename="source")
router.register("source-events", SourceEventViewSet, basename="source-event")

# Before the router's: "ingest" would otherwise be taken for a signal id.
urlpatterns = [
    path("signals/ingest/", SignalIngest.as_view(), name="signal-ingest"),
    *router.urls,
    path("stats/", StatsView.as_view(), name="stats"),
]
