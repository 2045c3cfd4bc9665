"""What every API view shares: the backend it serves, its permissions, parser and schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django.utils.module_loading import import_string
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.schemas.inspectors import DefaultSchema, ViewInspector

from django_taskflow.api.parsers import LimitedJSONParser

if TYPE_CHECKING:
    from django_taskflow.backend import TaskflowBackend


def serving_backend() -> TaskflowBackend:
    """The backend the API serves: ``TASKS["default"]``, which must be django_taskflow's."""
    from django_taskflow.backend import TaskflowBackend

    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    if not isinstance(backend, TaskflowBackend):
        raise ImproperlyConfigured(
            f"django_taskflow's API serves TASKS[{DEFAULT_TASK_BACKEND_ALIAS!r}], which uses "
            f"{type(backend).__name__}, not django_taskflow.backend.TaskflowBackend."
        )
    return backend


def base_permissions() -> list[BasePermission]:
    """``OPTIONS["API_PERMISSION_CLASSES"]``: by default, any active signed-in user."""
    paths = serving_backend().config.api_permission_classes
    return [import_string(path)() for path in paths]


class SpectacularSchema(DefaultSchema):
    """A fresh drf-spectacular ``AutoSchema`` for each view, as DRF's ``DefaultSchema`` gives.

    So the schema is drf-spectacular's whatever ``DEFAULT_SCHEMA_CLASS``
    the project sets (DRF's own, by default).
    """

    def __get__(self, instance: Any, owner: Any) -> Any:
        result = ViewInspector.__get__(self, instance, owner)
        if not isinstance(result, SpectacularSchema):
            return result  # one set on the view (schema generation does)
        inspector = AutoSchema()
        inspector.view = instance
        return inspector


def documented[F: Callable[..., Any]](**details: Any) -> Callable[[F], F]:
    """drf-spectacular's ``extend_schema``, built on its ``AutoSchema``.

    ``extend_schema`` itself builds on ``DEFAULT_SCHEMA_CLASS``, which a
    project using DRF's default leaves at DRF's schema; the operation would
    then not generate.
    """

    def decorate(function: F) -> F:
        function.schema = AutoSchema  # type: ignore[attr-defined]
        return extend_schema(**details)(function)

    return decorate


class TaskflowView:
    """Mixin for every API view: the project's base permissions plus the view's own.

    ``REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]`` is deliberately not
    used: an ``AllowAny`` there must never let anonymous users enqueue.
    Authentication follows the project's DRF settings.
    """

    schema = SpectacularSchema()
    parser_classes: Sequence[type[BaseParser]] = (LimitedJSONParser,)
    # Checked after the base permissions, e.g. staff only.
    extra_permission_classes: tuple[type[BasePermission], ...] = ()

    def get_permissions(self) -> list[Any]:
        return [*base_permissions(), *(kind() for kind in self.extra_permission_classes)]
