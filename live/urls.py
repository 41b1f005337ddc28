"""URLs of live delivery, mounted at /api/events/."""

from django.urls import path

from live import views

urlpatterns = [
    path("", views.events_stream, name="events-stream"),
    path("ticket/", views.TicketView.as_view(), name="events-ticket"),
]
