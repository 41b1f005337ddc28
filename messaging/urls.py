"""URLs of messages and notifications (mounted at /api/messaging/), and of a conversation's
messages (`conversation_urlpatterns`, mounted at /api/conversations/)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from messaging import views

router = DefaultRouter()
router.register("messages", views.MessageViewSet, basename="message")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path("delete-user/", views.DeleteUserView.as_view(), name="delete-user"),
    *router.urls,
]

conversation_urlpatterns = [
    path(
        "<int:pk>/messages/",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
]
