"""django_taskflow's URLs: ``path("taskflow/", include("django_taskflow.urls"))``.

The REST API is at ``api/`` (docs/howto/api.md).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from django_taskflow import views

app_name = "django_taskflow"

urlpatterns: list[URLPattern | URLResolver] = [
    path("health", views.health, name="health"),
    path("api/", include("django_taskflow.api.urls")),
    path("metrics", views.metrics, name="metrics"),
]
