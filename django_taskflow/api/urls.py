"""The API's URLs, included at ``api/`` by ``django_taskflow.urls``."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from django_taskflow.api import flows, monitoring, schedules, schema, services, tasks

router = SimpleRouter()
router.register("tasks", tasks.TaskViewSet, basename="api-task")
router.register("schedules", schedules.ScheduleViewSet, basename="api-schedule")
router.register("flows", flows.FlowViewSet, basename="api-flow")
router.register("services", services.ServiceViewSet, basename="api-service")

urlpatterns = [
    path("", include(router.urls)),
    path("workers/", monitoring.WorkersView.as_view(), name="api-workers"),
    path("stats/", monitoring.StatsView.as_view(), name="api-stats"),
    path("schema/", schema.SchemaView.as_view(), name="api-schema"),
    path("docs/", schema.DocsView.as_view(), name="api-docs"),
]
