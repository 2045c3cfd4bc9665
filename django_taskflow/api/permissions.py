"""The API's permission classes; the rules themselves are in ``django_taskflow.access``."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from django_taskflow import access

# A task action -> the permission it takes, as the admin's actions do.
ACTION_PERMISSIONS = {
    "cancel": access.CANCEL,
    "requeue": access.REQUEUE,
    "retry": access.RETRY,
}


class IsActiveUser(BasePermission):
    """A signed-in, active user: the default of ``OPTIONS["API_PERMISSION_CLASSES"]``."""

    message = "Sign in to use the task API."

    def has_permission(self, request: Any, view: Any) -> bool:
        return access.is_active_user(request.user)


class SeesAllTasks(BasePermission):
    """Staff only: the queue's figures and the workers concern every user's tasks."""

    message = "Only staff can see this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return access.sees_all_tasks(request.user)


class TaskActionPermission(BasePermission):
    """``cancel_task``, ``requeue_task`` or ``retry_task`` for the matching action."""

    message = "You do not have permission to do this to tasks."

    def has_permission(self, request: Any, view: Any) -> bool:
        needed = ACTION_PERMISSIONS.get(getattr(view, "action", None) or "")
        return needed is None or bool(request.user.has_perm(needed))


class SchedulePermission(BasePermission):
    """Reading needs ``view_schedule`` (or ``change_schedule``); editing, ``change_schedule``."""

    message = "You do not have permission to see or change schedules."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if user.has_perm("django_taskflow.change_schedule"):
            return True
        return request.method in ("GET", "HEAD", "OPTIONS") and bool(
            user.has_perm("django_taskflow.view_schedule")
        )
