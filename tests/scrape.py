"""Read ``/taskflow/metrics`` as a scraper holding the token would (tests' helper)."""

from __future__ import annotations

from django.conf import settings
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scraper-token-for-tests-0123456789"  # noqa: S105 - a test value

type Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_token(token: str | None) -> override_settings:
    """The test project's TASKS, with ``OPTIONS["METRICS_TOKEN"]`` set to ``token``."""
    backend = settings.TASKS["default"]
    return override_settings(
        TASKS={"default": {**backend, "OPTIONS": {**backend["OPTIONS"], "METRICS_TOKEN": token}}}
    )


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape() -> Samples:
    """The metrics, read with the token."""
    with with_token(TOKEN):
        response = Client().get("/taskflow/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value."""
    return samples[name, frozenset(labels.items())]
