"""The REST API (Django REST framework): tasks, enqueue by name, schedules, workers, stats.

Mounted at ``api/`` by ``django_taskflow.urls`` when the ``[api]`` extra
(djangorestframework, django-filter, drf-spectacular) is installed; see
docs/howto/api.md. It serves the ``default`` backend. Every view is thin:
a serializer or filter validates, then one function of ``operations``,
``queries``, ``stats``, ``worker_status`` or ``enqueue_by_name`` acts.
Who may see and steer what is decided in ``django_taskflow.access``,
shared with live updates.
"""

from __future__ import annotations

from importlib.util import find_spec

# What the [api] extra installs, by import name.
REQUIRED_MODULES = ("rest_framework", "django_filters", "drf_spectacular")


def is_available() -> bool:
    """Whether the packages of the ``[api]`` extra are installed."""
    return all(find_spec(name) is not None for name in REQUIRED_MODULES)
