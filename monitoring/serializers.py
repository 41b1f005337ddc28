"""JSON shapes of the task monitoring API (`/api/tasks/`)."""

from __future__ import annotations

from django_celery_results.models import TaskResult
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from monitoring import selectors


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class TaskResultSerializer(serializers.ModelSerializer):
    """One task as the list shows it: what ran where, its state, timing and progress."""

    state = serializers.CharField(source="status")
    runtime_seconds = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = TaskResult
        fields = [
            "task_id",
            "task_name",
            "periodic_task_name",
            "state",
            "worker",
            "date_created",
            "date_started",
            "date_done",
            "runtime_seconds",
            "progress",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_runtime_seconds(self, task: TaskResult) -> float | None:
        return selectors.task_result_runtime(task)

    @extend_schema_field(ProgressSerializer(allow_null=True))
    def get_progress(self, task: TaskResult) -> dict[str, int] | None:
        return selectors.task_result_progress(task)


class TaskResultDetailSerializer(TaskResultSerializer):
    """One task in full: arguments, result or error with traceback, and retries."""

    args = serializers.SerializerMethodField()
    kwargs = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    retries = serializers.SerializerMethodField()

    class Meta(TaskResultSerializer.Meta):
        fields = [
            *TaskResultSerializer.Meta.fields,
            "args",
            "kwargs",
            "result",
            "traceback",
            "retries",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_args(self, task: TaskResult) -> str | None:
        """The positional arguments as the sender rendered them (Celery's `argsrepr`)."""
        return selectors.decode_json(task.task_args)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_kwargs(self, task: TaskResult):
        """The keyword arguments as the sender rendered them (Celery's `kwargsrepr`)."""
        return selectors.decode_json(task.task_kwargs)

    @extend_schema_field(OpenApiTypes.ANY)
    def get_result(self, task: TaskResult):
        """The return value; for a failure, the exception type and message."""
        return selectors.decode_json(task.result)

    def get_retries(self, task: TaskResult) -> int:
        return selectors.task_result_retries(task)


class TaskStatsRuntimeSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class TaskStatsBrokerSerializer(serializers.Serializer):
    queue = serializers.CharField(help_text="the latency queue (Celery's default queue)")
    length = serializers.IntegerField(allow_null=True)
    bulk_queue = serializers.CharField(help_text="the queue of purges and maintenance")
    bulk_length = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(required=False)


class TaskStatsWorkersSerializer(serializers.Serializer):
    answering = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(required=False)


class TaskStatsOutboxSerializer(serializers.Serializer):
    pending = serializers.IntegerField(help_text="Events not done yet, dead ones included.")
    dead = serializers.IntegerField(
        help_text="Events the relay gave up on after OUTBOX_MAX_ATTEMPTS resends "
        "(`manage.py outbox_relay --retry-dead` sends them again)."
    )


class TaskStatsSerializer(serializers.Serializer):
    window_seconds = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.IntegerField()
    by_state = serializers.DictField(child=serializers.IntegerField())
    by_task_name = serializers.DictField(child=serializers.IntegerField())
    runtime_seconds = TaskStatsRuntimeSerializer()
    failure_rate = serializers.FloatField(allow_null=True)
    broker = TaskStatsBrokerSerializer()
    workers = TaskStatsWorkersSerializer()
    outbox = TaskStatsOutboxSerializer()
