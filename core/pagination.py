"""Cursor pagination, newest first, with a bounded client-chosen page size."""

from datetime import UTC

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    ordering = ("-timestamp", "-id")
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request):
        # DRF trusts the position inside a well-formed cursor; a forged one that is not a
        # datetime would reach the queryset filter and fail there with a 500.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                position = parse_datetime(cursor.position)
                # Offsets near datetime.min/max overflow when the database converts to UTC.
                valid = position is not None and position.astimezone(UTC) is not None
            except (ValueError, OverflowError):
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class NewestCreatedFirstCursorPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")
