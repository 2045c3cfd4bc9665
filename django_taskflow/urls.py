"""django_taskflow's URLs: ``path("taskflow/", include("django_taskflow.urls"))``."""

from __future__ import annotations

from django.urls import path

from django_taskflow import views

app_name = "django_taskflow"

urlpatterns = [
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
]
