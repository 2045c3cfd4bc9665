"""The benchmark measures what users run: production settings and a working baseline."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

import pytest

from django_taskflow.sqlite_check import RECOMMENDED_OPTIONS
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import measure
import raw_sqlite


def load_benchmark_settings(monkeypatch: pytest.MonkeyPatch, sqlite_settings: str) -> ModuleType:
    monkeypatch.setenv("TASKFLOW_BENCH_SQLITE_SETTINGS", sqlite_settings)
    monkeypatch.delenv("DJANGO_DEBUG", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name in ("benchmarks.settings", "testproject.settings"):
        sys.modules.pop(name, None)
    try:
        return importlib.import_module("benchmarks.settings")
    finally:
        for name in ("benchmarks.settings", "testproject.settings"):
            sys.modules.pop(name, None)


def test_the_benchmark_runs_without_debug_and_without_per_task_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_benchmark_settings(monkeypatch, "recommended")

    assert settings.DEBUG is False
    assert settings.LOGGING["loggers"]["django_taskflow"]["level"] == "WARNING"


def test_recommended_sqlite_settings_are_those_the_check_asks_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_benchmark_settings(monkeypatch, "recommended")

    assert settings.DATABASES["default"]["OPTIONS"] == RECOMMENDED_OPTIONS


def test_default_sqlite_settings_are_djangos(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_benchmark_settings(monkeypatch, "default")

    assert settings.DATABASES["default"]["OPTIONS"] == {}


def test_the_raw_sqlite_baseline_moves_every_task() -> None:
    figures = raw_sqlite.measure(tasks=500, procs=2, batch=50)

    assert set(figures) == {"enqueue", "bulk", "drain"}
    assert all(rate > 0 for rate in figures.values())


def test_pss_is_read_for_a_process_and_its_children() -> None:
    figures = measure.pss_of_tree(os.getppid())

    assert figures["pss_supervisor"] > 0
    assert figures["slots"] >= 1  # this test process is a child of its parent


def test_the_typed_figure_times_a_decode_that_gives_back_the_dataclass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typed_decode

    monkeypatch.setattr(typed_decode, "CALLS_PER_ROUND", 50)

    figures = typed_decode.measure()  # asserts the decoded argument equals the original

    assert set(figures) == {"typed_decode_us"}
    assert 0 < figures["typed_decode_us"] < 10_000
