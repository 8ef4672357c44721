from rest_framework.routers import SimpleRouter

from signals.api.views import RejectionViewSet, SignalViewSet, SourceViewSet

router = SimpleRouter(trailing_slash=True)
router.register("signals", SignalViewSet, basename="signal")
router.register("rejections", RejectionViewSet, basename="rejection")
router.register("sources", SourceViewSet, basename="source")

urlpatterns = router.urls
