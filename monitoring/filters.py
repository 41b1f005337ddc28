"""Query filters of `/api/tasks/`: state, task name and time range (bad values answer 400)."""

import datetime

from django import forms
from django_celery_results.models import TaskResult
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField

from monitoring.selectors import ALL_STATES


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 datetime turned to UTC: PostgreSQL refuses offsets beyond +-15:59 (a 500)."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return result
        try:
            return result.astimezone(datetime.UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00+05:00
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class TaskResultFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(
        field_name="status",
        choices=[(state, state) for state in ALL_STATES],
        help_text="Task state; repeat the parameter for several (?state=FAILURE&state=RETRY).",
    )
    task_name = filters.CharFilter(field_name="task_name", help_text="Exact task name.")
    task_name_contains = filters.CharFilter(
        field_name="task_name", lookup_expr="icontains", help_text="Part of the task name."
    )
    worker = filters.CharFilter(field_name="worker", help_text="Exact worker hostname.")
    created_after = UtcIsoDateTimeFilter(field_name="date_created", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="date_created", lookup_expr="lt")
    done_after = UtcIsoDateTimeFilter(field_name="date_done", lookup_expr="gte")
    done_before = UtcIsoDateTimeFilter(field_name="date_done", lookup_expr="lt")

    class Meta:
        model = TaskResult
        fields = []
