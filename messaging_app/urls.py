"""URL map of the API, the admin and the docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from chats.views import ConversationViewSet
from messaging import views as messaging_views
from messaging_app.health import HealthView

messaging_router = DefaultRouter()
messaging_router.register("messages", messaging_views.MessageViewSet, basename="message")
messaging_router.register(
    "notifications", messaging_views.NotificationViewSet, basename="notification"
)

conversations_router = DefaultRouter()
conversations_router.register("", ConversationViewSet, basename="conversation")

auth_patterns = [
    path("register/", messaging_views.RegisterView.as_view(), name="register"),
    path("token/", messaging_views.ThrottledTokenObtainPairView.as_view(), name="token"),
    path(
        "token/refresh/",
        messaging_views.ThrottledTokenRefreshView.as_view(),
        name="token-refresh",
    ),
    path("me/", messaging_views.MeView.as_view(), name="me"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include(auth_patterns)),
    path(
        "api/messaging/delete-user/", messaging_views.DeleteUserView.as_view(), name="delete-user"
    ),
    path("api/messaging/", include(messaging_router.urls)),
    path("api/conversations/", include(conversations_router.urls)),
    path("api/tasks/", include("tasks.urls")),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
]

handler400 = "messaging_app.errors.bad_request"
handler403 = "messaging_app.errors.permission_denied"
handler404 = "messaging_app.errors.not_found"
handler500 = "messaging_app.errors.server_error"
