"""Cursor pagination of tasks: no COUNT and no OFFSET, so page 10,000 costs what page 1 does."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class TaskCursorPagination(CursorPagination):
    """Newest first. ``enqueued_at`` positions the cursor; ``id`` (time-ordered,
    unique) orders the tasks of one ``enqueue_many``, which share it."""

    ordering = ("-enqueued_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
