"""HTTP views: ``/taskflow/health`` for load balancers, orchestrators and staff;
``/taskflow/metrics`` for Prometheus.

Mounted with ``path("taskflow/", include("django_taskflow.urls"))``.
"""

from __future__ import annotations

import hmac
import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.tasks import task_backends
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from django_taskflow import health as health_checks
from django_taskflow import metrics as exposition
from django_taskflow.exceptions import MetricsUnavailable

logger = logging.getLogger(__name__)


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


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _refusal(request: HttpRequest, token: str | None) -> HttpResponse | None:
    """Why ``request`` may not read the metrics, as a response; None when it may.

    A scraper sends ``OPTIONS["METRICS_TOKEN"]`` as a bearer token, compared
    in constant time; in a browser, a staff member's session is enough.
    """
    sent = _bearer_token(request)
    if sent is not None:
        if token is not None and hmac.compare_digest(sent.encode(), token.encode()):
            return None
    else:
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.is_staff:
            return None
        if user is not None and user.is_authenticated:
            return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
    response = HttpResponse(
        "Send OPTIONS['METRICS_TOKEN'] as a bearer token, or sign in as staff.\n",
        status=401,
        content_type="text/plain",
    )
    invalid = ', error="invalid_token"' if sent is not None else ""
    response["WWW-Authenticate"] = f'Bearer realm="taskflow metrics"{invalid}'
    return response


@never_cache
@require_safe
def metrics(request: HttpRequest, backend: str = "default") -> HttpResponse:
    """The backend's Prometheus metrics, for its bearer token or a staff session.

    401 without credentials or with a wrong token, 403 for a signed-in
    user who is not staff, 501 when ``prometheus_client`` is not installed,
    503 when the database does not answer.
    """
    from django_taskflow.backend import TaskflowBackend

    instance = task_backends[backend]
    if not isinstance(instance, TaskflowBackend):
        return HttpResponse(status=404)
    refusal = _refusal(request, instance.config.metrics_token)
    if refusal is not None:
        return refusal
    try:
        body, content_type = exposition.render(
            instance.config, backend, set(instance.queues), request.headers.get("Accept", "")
        )
    except MetricsUnavailable as exc:
        return HttpResponse(f"{exc}\n", status=501, content_type="text/plain")
    except DatabaseError:
        logger.exception("could not read the metrics", extra={"action": "metrics_failed"})
        return HttpResponse(
            "The database does not answer.\n", status=503, content_type="text/plain"
        )
    return HttpResponse(body, content_type=content_type)
