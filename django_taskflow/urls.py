"""django_taskflow's URLs: ``path("taskflow/", include("django_taskflow.urls"))``.

The dashboard is at the root (docs/howto/dashboard.md), the REST API at
``api/`` (docs/howto/api.md).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from django_taskflow import views
from django_taskflow.dashboard import views as dashboard

app_name = "django_taskflow"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", dashboard.page, name="dashboard"),
    path("dashboard/rows", dashboard.rows, name="dashboard-rows"),
    path("dashboard/summary", dashboard.summary, name="dashboard-summary"),
    path("dashboard/services", dashboard.services, name="dashboard-services"),
    path("dashboard/tasks/<uuid:task_id>/cancel", dashboard.cancel, name="dashboard-cancel"),
    path("dashboard/tasks/<uuid:task_id>/requeue", dashboard.requeue, name="dashboard-requeue"),
    path("health", views.health, name="health"),
    path("api/", include("django_taskflow.api.urls")),
    path("metrics", views.metrics, name="metrics"),
]
