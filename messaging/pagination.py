"""Cursor pagination, newest first, with a bounded client-chosen page size."""

from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    ordering = ("-timestamp", "-id")
    page_size_query_param = "page_size"
    max_page_size = 100


class NewestCreatedFirstCursorPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")
