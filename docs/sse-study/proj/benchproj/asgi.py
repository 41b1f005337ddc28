import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.SSE_MODE.startswith("channels"):
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path, re_path

    from .channels_sse import SSEConsumer

    application = ProtocolTypeRouter(
        {"http": URLRouter([path("sse/ch/<int:uid>/", SSEConsumer.as_asgi()), re_path(r"", django_asgi_app)])}
    )
else:
    application = django_asgi_app

if os.environ.get("SSE_NO_SYNC_SIGNALS") == "1":
    # experiment only: without these sync receivers Django spawns no per-request thread for an
    # async view (see RESULTS.md). Not safe for sync views that use the DB.
    from django.core import signals
    from django.db import close_old_connections, reset_queries

    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

from .raw_sse import raw_sse_app  # noqa: E402

_inner = application


async def application(scope, receive, send):  # noqa: F811
    if scope["type"] == "http" and scope["path"] == "/raw-sse/":
        return await raw_sse_app(scope, receive, send)
    return await _inner(scope, receive, send)


if os.environ.get("SSE_GRANIAN_PROXY_HEADERS") == "1":
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    application = wrap_asgi_with_proxy_headers(application, trusted_hosts="127.0.0.1")
