"""django_taskflow's URLs: ``path("taskflow/", include("django_taskflow.urls"))``.

The REST API is mounted at ``api/`` when the ``[api]`` extra is installed;
without it ``api/`` is simply not there (a 404), and the rest works.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from django_taskflow import api, views

app_name = "django_taskflow"

urlpatterns: list[URLPattern | URLResolver] = [
    path("health", views.health, name="health"),
]

if api.is_available():
    urlpatterns.append(path("api/", include("django_taskflow.api.urls")))
