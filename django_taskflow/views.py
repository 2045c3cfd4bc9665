"""HTTP views: ``/taskflow/health`` for load balancers, orchestrators and staff.

Mounted with ``path("taskflow/", include("django_taskflow.urls"))``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.tasks import task_backends
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from django_taskflow import health as health_checks


@never_cache
@require_safe
def health(request: HttpRequest, backend: str = "default") -> HttpResponse:
    """200 when healthy, 503 when not; the checks' details (JSON) for staff only.

    Anyone may ask (probes carry no session), but only the status code is
    theirs: the details name databases and queues.
    """
    from django_taskflow.backend import TaskflowBackend

    instance = task_backends[backend]
    if not isinstance(instance, TaskflowBackend):
        return HttpResponse(status=404)
    report = health_checks.check(instance.config, backend)
    status = 200 if report.healthy else 503
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return JsonResponse(report.as_json(), status=status)
    return HttpResponse(status=status)
