"""The OpenAPI schema (drf-spectacular) of this API alone, and its browsable page.

The generator lists only django_taskflow's views, so a project with an
API of its own gets a separate schema for it. The page is Swagger UI;
its script and styles come from drf-spectacular's default CDN (or from
``SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"]``, e.g. drf-spectacular-sidecar).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from django_taskflow.api.base import TaskflowView

SETTINGS = {
    "TITLE": "django_taskflow API",
    "DESCRIPTION": "Tasks, enqueue by name, schedules, workers and queue figures.",
    "VERSION": "1",
    "COMPONENT_SPLIT_REQUEST": True,
}


class TaskflowEndpoints(EndpointEnumerator):
    """Only the endpoints of django_taskflow's API, without the schema's own."""

    def should_include_endpoint(self, path: str, callback: Any) -> bool:
        view = getattr(callback, "cls", None)
        return (
            view is not None
            and issubclass(view, TaskflowView)
            and not issubclass(view, SpectacularAPIView | SpectacularSwaggerView)
            and bool(super().should_include_endpoint(path, callback))
        )


class TaskflowSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = TaskflowEndpoints


class SchemaView(TaskflowView, SpectacularAPIView):
    """The OpenAPI 3 document, as YAML or (``?format=json``) JSON."""

    generator_class = TaskflowSchemaGenerator
    custom_settings = SETTINGS


class DocsView(TaskflowView, SpectacularSwaggerView):
    """Swagger UI over the schema, for a signed-in user's browser."""

    url_name = "django_taskflow:api-schema"
