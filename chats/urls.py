"""URLs of conversations, mounted at /api/conversations/."""

from rest_framework.routers import DefaultRouter

from chats.views import ConversationViewSet

router = DefaultRouter()
router.register("", ConversationViewSet, basename="conversation")

urlpatterns = router.urls
