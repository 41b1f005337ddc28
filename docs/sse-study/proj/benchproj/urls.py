from django.conf import settings
from django.urls import include, path

from . import views

urlpatterns = [
    path("sse/", views.sse_stream),
    path("stats/", views.stats),
    path("peer/", views.peer),
    path("json/", views.JsonView.as_view()),
    path("db/", views.DbView.as_view()),
    path("ajson/", views.ajson),
]

if settings.SSE_MODE == "eventstream":
    import django_eventstream

    # each stream: its own user channel + one shared channel (fan-out variants in bench_b_fanout.py)
    urlpatterns.append(
        path("sse/es/<int:uid>/", include(django_eventstream.urls), {"format-channels": ["user-{uid}", "fanout"]})
    )
