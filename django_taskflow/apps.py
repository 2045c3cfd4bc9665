from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class TaskflowConfig(AppConfig):
    name = "django_taskflow"
    verbose_name = _("Tasks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_taskflow import checks  # noqa: F401  # registers the system checks

        # Import every app's tasks.py so the worker knows all definitions.
        autodiscover_modules("tasks")
