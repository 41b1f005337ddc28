"""HTTP adapters of monitoring: the health check, and task results and statistics for staff."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import NewestFirstCursorPagination
from monitoring import health, selectors
from monitoring.filters import TaskResultFilter
from monitoring.serializers import (
    TaskResultDetailSerializer,
    TaskResultSerializer,
    TaskStatsSerializer,
)
from outbox.selectors import outbox_dead_count, outbox_pending_count

DEFAULT_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=7)
_WINDOW = re.compile(r"^(\d{1,7})([smh]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}
# The stats endpoint answers within a second: the broker and the ping share this budget.
PING_TIMEOUT_SECONDS = 0.5
BROKER_BUDGET_SECONDS = 0.7


def parse_window(raw: str | None) -> timedelta:
    """`?window=` as seconds (`900`, `900s`), minutes (`15m`) or hours (`1h`), up to 7 days."""
    if raw in (None, ""):
        return DEFAULT_WINDOW
    match = _WINDOW.match(raw.strip())
    window = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]]) if match else timedelta(0)
    if not timedelta(seconds=1) <= window <= MAX_WINDOW:
        raise ValidationError(
            {"window": "Give seconds (3600 or 3600s), minutes (60m) or hours (1h), up to 7 days."}
        )
    return window


class TaskResultPagination(NewestFirstCursorPagination):
    ordering = ("-date_created", "-id")


@extend_schema_view(
    list=extend_schema(
        description="Task results, newest first; filter by state, task name, worker and time."
    ),
    retrieve=extend_schema(
        description="One task: arguments, result or error and traceback, runtime, worker, "
        "retries, and `{done, total}` while a long task reports PROGRESS."
    ),
)
class TaskResultViewSet(viewsets.ReadOnlyModelViewSet):
    """Task results stored by django-celery-results, newest first (staff only)."""

    permission_classes = [IsAdminUser]
    pagination_class = TaskResultPagination
    filterset_class = TaskResultFilter
    lookup_field = "task_id"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        return selectors.task_result_list()

    def get_serializer_class(self):
        return TaskResultDetailSerializer if self.action == "retrieve" else TaskResultSerializer

    def get_object(self):
        task = selectors.task_result_get(task_id=self.kwargs["task_id"])
        if task is None:
            raise Http404
        return task

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window",
                OpenApiTypes.STR,
                description="Seconds (3600), minutes (60m) or hours (1h); default 1h, at most 7d.",
            )
        ],
        responses={200: TaskStatsSerializer},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def stats(self, request):
        """Counts by state and task name, runtimes and failure rate; broker queue; live workers."""
        window = parse_window(request.query_params.get("window"))
        from celery_app import app

        queue, bulk = app.conf.task_default_queue, settings.BULK_QUEUE
        # The broker calls run side by side in threads, each cut off at the shared budget.
        probes = {
            name: lambda name=name: selectors.broker_queue_length(
                queue=name, timeout=PING_TIMEOUT_SECONDS
            )
            for name in (queue, bulk)
        }
        probes["workers"] = lambda: selectors.workers_answering_ping(timeout=PING_TIMEOUT_SECONDS)
        answers = selectors.call_bounded(probes, timeout=BROKER_BUDGET_SECONDS)
        body = selectors.task_stats(window=window)
        length, length_error, _ = answers[queue]
        bulk_length, bulk_error, _ = answers[bulk]
        workers, workers_error, _ = answers["workers"]
        body["broker"] = {
            "queue": queue,
            "length": length,
            "bulk_queue": bulk,
            "bulk_length": bulk_length,
        }
        if length_error or bulk_error:
            body["broker"]["error"] = length_error or bulk_error
        body["workers"] = {"answering": workers or []}
        if workers_error:
            body["workers"]["error"] = workers_error
        body["outbox"] = {"pending": outbox_pending_count(), "dead": outbox_dead_count()}
        return Response(TaskStatsSerializer(body).data)


def _is_staff(request) -> bool:
    """Whether the caller is staff; bad credentials make an anonymous caller, never a 401."""
    try:
        return bool(request.user and request.user.is_staff)
    except APIException:
        return False


class LivenessView(APIView):
    """GET /api/health/live/: this process serves requests. For load balancers and liveness
    probes: it checks no dependency, so a broker or worker outage (which /api/health/ reports
    as 503) never pulls every web process at once while they can still serve."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(responses={200: inline_serializer("Live", {"status": serializers.CharField()})})
    def get(self, request):
        return Response({"status": "ok"})


class HealthView(APIView):
    """GET /api/health/: each dependency checked with a bounded timeout, and its latency.

    Anybody (a load balancer, an uptime probe) learns which checks pass; the latencies and the
    errors, whose texts name hosts and ports, are for staff only.
    """

    permission_classes = [AllowAny]

    def perform_authentication(self, request):
        pass  # lazily, in `_is_staff`: a probe's stray header must not turn the answer into 401

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(help_text="`ok` or `degraded`"),
                    "degraded": serializers.ListField(
                        child=serializers.CharField(), required=False
                    ),
                    "checks": serializers.DictField(),
                },
            ),
            503: inline_serializer(
                "HealthFailing",
                {
                    "status": serializers.CharField(),
                    "failing": serializers.ListField(child=serializers.CharField()),
                    "checks": serializers.DictField(),
                },
            ),
        }
    )
    def get(self, request):
        """200 `ok`; 200 `degraded` when work is stuck (dead outbox events) but every
        dependency answers; 503 `failing` naming the dependencies that do not."""
        checks = health.run_checks()
        failing = [name for name, result in checks.items() if not result["ok"]]
        degraded = [name for name, result in checks.items() if result.get("degraded")]
        if not _is_staff(request):
            checks = {name: {"ok": result["ok"]} for name, result in checks.items()}
        status = "failing" if failing else "degraded" if degraded else "ok"
        body = {"status": status, "checks": checks}
        if failing:
            body["failing"] = failing
        if degraded:
            body["degraded"] = degraded
        return Response(body, status=503 if failing else 200)
