"""The dashboard's pages: the page itself, its fragments, and the cancel and re-queue buttons.

Services have a card of their own, for staff with ``view_service``.

Staff only: anyone else is sent to the admin's login. The buttons post a
form with Django's CSRF token and take the admin's permissions
(``cancel_task``, ``requeue_task``); they act through ``operations``.
Templates escape everything they show, and the page's script writes
frames into the page as text, never as HTML.
"""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from django_taskflow import access, models, operations, queries
from django_taskflow.api.base import serving_backend
from django_taskflow.dashboard import reading
from django_taskflow.exceptions import AmbiguousTaskName, InvalidQuery, UnknownTask

logger = logging.getLogger(__name__)


def _rows_context(request: HttpRequest, backend: str) -> dict[str, object]:
    text = request.GET.get("q", "").strip()
    ids = request.GET.getlist("id") or None
    try:
        rows = reading.task_rows(backend, text, ids)
    except (InvalidQuery, UnknownTask, AmbiguousTaskName) as exc:
        return {"rows": [], "filter_error": str(exc), "query": text}
    return {"rows": rows, "filter_error": "", "query": text}


def _permissions(request: HttpRequest) -> dict[str, bool]:
    return {
        "may_cancel": request.user.has_perm(access.CANCEL),
        "may_requeue": request.user.has_perm(access.REQUEUE),
        "may_see_services": access.sees_services(request.user),
    }


@never_cache
@staff_member_required
@require_safe
def page(request: HttpRequest) -> HttpResponse:
    """The dashboard: tasks, counts, throughput and workers, kept live by its script."""
    backend = serving_backend().alias
    context = {
        **_rows_context(request, backend),
        **_permissions(request),
        "summary": reading.summary(backend),
        "row_limit": reading.ROW_LIMIT,
        "window_minutes": reading.WINDOW_MINUTES,
    }
    if context["may_see_services"]:
        context["services"] = reading.service_rows()
    return render(request, "django_taskflow/dashboard/page.html", context)


@never_cache
@staff_member_required
@require_safe
def services(request: HttpRequest) -> HttpResponse:
    """The services card, re-read by the page when a service it does not show has an event."""
    if not access.sees_services(request.user):
        return HttpResponse("You may not see services.", status=403, content_type="text/plain")
    context = {"services": reading.service_rows(), "row_limit": reading.ROW_LIMIT}
    return render(request, "django_taskflow/dashboard/services.html", context)


@never_cache
@staff_member_required
@require_safe
def rows(request: HttpRequest) -> HttpResponse:
    """The table's rows for the filter box (``q``), or only the tasks named by ``id``."""
    backend = serving_backend().alias
    context = {**_rows_context(request, backend), **_permissions(request)}
    return render(request, "django_taskflow/dashboard/rows.html", context)


@never_cache
@staff_member_required
@require_safe
def summary(request: HttpRequest) -> HttpResponse:
    """The counts, the chart's figures and the workers, re-read by the page as tasks change."""
    context = {
        "summary": reading.summary(serving_backend().alias),
        "window_minutes": reading.WINDOW_MINUTES,
    }
    return render(request, "django_taskflow/dashboard/summary.html", context)


def _answer(
    request: HttpRequest, task_ids: list[str], notice: str, status: int = 200
) -> HttpResponse:
    """The changed rows for the page's script; for a plain form post, back to the page."""
    if request.headers.get("HX-Request") == "true":
        if status != 200:
            return HttpResponse(notice, status=status, content_type="text/plain; charset=utf-8")
        backend = serving_backend().alias
        context = {"rows": reading.task_rows(backend, ids=task_ids), **_permissions(request)}
        return render(request, "django_taskflow/dashboard/rows.html", context)
    (messages.success if status == 200 else messages.error)(request, notice)
    return redirect("django_taskflow:dashboard")


def _visible_task(request: HttpRequest, task_id: uuid.UUID) -> models.Task | None:
    database = queries.database_for(serving_backend().alias)
    tasks = access.visible_tasks(request.user, models.Task.objects.using(database))
    return tasks.only("id", "status", "enqueued_by").filter(pk=task_id).first()


@staff_member_required
@require_POST
def cancel(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    """Cancel a queued task, or ask a running one to stop (``cancel_task``)."""
    if not request.user.has_perm(access.CANCEL):
        return _answer(request, [], "You do not have permission to cancel tasks.", 403)
    task = _visible_task(request, task_id)
    if task is None:
        return _answer(request, [], "No such task.", 404)
    changed = operations.cancel(task.pk, by=request.user, backend=serving_backend().alias)
    if not changed:
        return _answer(request, [], f"Task {task.pk} is finished, or already asked to stop.", 409)
    return _answer(request, [str(task.pk)], f"Task {task.pk}: cancel requested.")


@staff_member_required
@require_POST
def requeue(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    """Enqueue a new task with this finished task's inputs (``requeue_task``)."""
    if not request.user.has_perm(access.REQUEUE):
        return _answer(request, [], "You do not have permission to re-queue tasks.", 403)
    task = _visible_task(request, task_id)
    if task is None:
        return _answer(request, [], "No such task.", 404)
    report = operations.requeue(task.pk, by=request.user, backend=serving_backend().alias)
    if not report.changed:
        why = "; ".join(sorted(report.refused)) or "it was left as it was"
        return _answer(request, [], f"Task {task.pk} was not re-queued: {why}.", 409)
    new_ids = [str(pk) for pk in report.new_ids]
    return _answer(request, [*new_ids, str(task.pk)], f"Task {task.pk} re-queued as {new_ids[0]}.")
