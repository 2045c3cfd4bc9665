"""Examples quoted by docs/howto/admin.md (run by tests/integration/test_admin_operator.py)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from django_taskflow import find_tasks, operations, retry_now


def make_oncall_group() -> Group:
    oncall = Group.objects.create(name="on-call")
    oncall.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_taskflow",
            codename__in=["view_task", "cancel_task", "retry_task"],
        )
    )
    return oncall


def retry_failed_syncs(user: object) -> tuple[int, dict[str, int]]:
    report = retry_now(name="tests.tasks.fail_once", status="failed", by=user)
    return report.changed, dict(report.refused)  # e.g. (3, {})


def discard_obsolete(user: object) -> int:
    return operations.discard(find_tasks(status="failed", tag="obsolete"), by=user).changed
