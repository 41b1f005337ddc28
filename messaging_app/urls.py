"""URL map of the API, the event stream, the web client, the admin and the docs."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from messaging.urls import conversation_urlpatterns
from monitoring.views import HealthView, LivenessView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    path("api/messaging/", include("messaging.urls")),
    path("api/conversations/", include(conversation_urlpatterns)),
    path("api/conversations/", include("chats.urls")),
    path("api/tasks/", include("monitoring.urls")),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/health/live/", LivenessView.as_view(), name="health-live"),
    path("api/events/", include("live.urls")),
    path("app/", RedirectView.as_view(url="/static/client/"), name="web-client"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
]

handler400 = "messaging_app.errors.bad_request"
handler403 = "messaging_app.errors.permission_denied"
handler404 = "messaging_app.errors.not_found"
handler500 = "messaging_app.errors.server_error"
