from django.urls import path
from rest_framework.routers import SimpleRouter

from ledger.api.views import FrameFeed, PartitionList, WebhookSubscriptionViewSet

router = SimpleRouter(trailing_slash=True)
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

urlpatterns = [
    path("ledger/partitions/", PartitionList.as_view(), name="ledger-partitions"),
    path("ledger/frames/", FrameFeed.as_view(), name="ledger-frames"),
    *router.urls,
]
