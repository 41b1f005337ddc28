"""The project's URLs plus `/api/bench/ping/`, the trivial endpoint the HTTP section compares with,
and the naive endpoints of section 10 (bench/naive.py).

The ping view runs through the same WSGI server and middleware as the API, and does nothing else:
no authentication, no query, no cache. It is the ceiling of any endpoint on the same server.
"""

from django.http import JsonResponse
from django.urls import path

from bench.naive import NaiveMessages, NaiveUnread
from messaging_app.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def ping(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("api/bench/ping/", ping, name="bench-ping"),
    path("api/bench/naive/messages/", NaiveMessages.as_view(), name="bench-naive-messages"),
    path("api/bench/naive/unread/", NaiveUnread.as_view(), name="bench-naive-unread"),
    *urlpatterns,
]
