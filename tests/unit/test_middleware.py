"""Middleware: the chain around every execution, loading it from settings, and contrib's two."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.tasks import Task

from django_taskflow import results
from django_taskflow.contrib.middleware import LoggingMiddleware, MetricsMiddleware
from django_taskflow.exceptions import ConfigurationError
from django_taskflow.execution import middleware
from django_taskflow.execution.context import TaskContext
from tests import tasks

SETTING = "TASKS['default']['OPTIONS']['MIDDLEWARE']"
NOT_CALLABLE = 42


class CountingMiddleware:
    """A class middleware, as load() finds it by path (instantiated with no arguments)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        self.calls += 1
        return call_next()


def tag_tenant(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
    """A function middleware, as load() finds it by path."""
    context.extra["tenant"] = "acme"
    return call_next()


@pytest.fixture(autouse=True)
def _no_leftover_middleware() -> Iterator[None]:
    middleware.clear()
    MetricsMiddleware.reset()
    yield
    middleware.clear()
    MetricsMiddleware.reset()


def make_context(definition: Task = tasks.add, attempt: int = 1) -> TaskContext:
    snapshot = results.build(
        definition, task_id="task-1", status="running", args=[], kwargs={}, enqueued_at=None
    )
    return TaskContext(
        task_result=snapshot, attempt_number=attempt, max_attempts=3, worker_id="worker-1"
    )


def recorder(name: str, log: list[str]) -> middleware.Middleware:
    """A middleware that notes when it is entered and left."""

    def record(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        log.append(f"{name} in")
        result = call_next()
        log.append(f"{name} out")
        return result

    return record


def run(configured: list[Any], call: Callable[[], Any], definition: Task = tasks.add) -> Any:
    return middleware.run(configured, definition, make_context(definition), call)


def boom() -> None:
    raise ValueError("bad row 7")


# The chain


def test_without_middleware_the_task_runs_directly() -> None:
    assert run([], lambda: 5) == 5


def test_first_configured_middleware_is_outermost() -> None:
    log: list[str] = []

    def call() -> str:
        log.append("task")
        return "done"

    result = run([recorder("first", log), recorder("second", log)], call)

    assert result == "done"
    assert log == ["first in", "second in", "task", "second out", "first out"]


def test_middleware_added_with_use_runs_inside_the_configured_ones() -> None:
    log: list[str] = []
    middleware.use(recorder("used", log))

    run([recorder("configured", log)], lambda: log.append("task"))

    assert log == ["configured in", "used in", "task", "used out", "configured out"]


def test_use_keeps_the_order_it_was_given() -> None:
    log: list[str] = []
    middleware.use(recorder("a", log), recorder("b", log))
    middleware.use(recorder("c", log))

    run([], lambda: log.append("task"))

    assert log == ["a in", "b in", "c in", "task", "c out", "b out", "a out"]


def test_clear_removes_what_use_added() -> None:
    log: list[str] = []
    middleware.use(recorder("used", log))

    middleware.clear()
    run([], lambda: log.append("task"))

    assert log == ["task"]


@pytest.mark.parametrize("item", [NOT_CALLABLE, "django_taskflow.contrib.middleware.X", None])
def test_use_refuses_something_that_is_not_callable(item: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        middleware.use(item)

    assert str(info.value) == f"use() takes middleware instances or functions, got {item!r}."


def test_use_adds_nothing_when_one_item_is_refused() -> None:
    log: list[str] = []

    with pytest.raises(ConfigurationError):
        middleware.use(NOT_CALLABLE)  # type: ignore[arg-type]
    run([], lambda: log.append("task"))

    assert log == ["task"]


def test_middleware_receives_the_definition_and_the_context() -> None:
    seen: list[tuple[Task, TaskContext]] = []
    context = make_context(tasks.echo)

    def spy(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        seen.append((task, context))
        return call_next()

    middleware.run([spy], tasks.echo, context, lambda: None)

    assert seen == [(tasks.echo, context)]


def test_middleware_that_does_not_call_next_stops_the_task() -> None:
    ran: list[str] = []

    def cached(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        return "from cache"

    result = run([cached, recorder("inner", ran)], lambda: ran.append("task"))

    assert result == "from cache"
    assert ran == []


def test_middleware_can_change_the_result() -> None:
    def double(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        return call_next() * 2

    assert run([double], lambda: 21) == 42


def test_middleware_can_turn_an_error_into_another() -> None:
    def wrap_errors(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        try:
            return call_next()
        except ValueError as exc:
            raise RuntimeError(f"{task.name} failed") from exc

    with pytest.raises(RuntimeError, match=r"^add failed$") as info:
        run([wrap_errors], boom)

    assert isinstance(info.value.__cause__, ValueError)


def test_middleware_can_return_a_fallback_instead_of_an_error() -> None:
    def fallback(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        try:
            return call_next()
        except ValueError:
            return {"skipped": True}

    assert run([fallback], boom) == {"skipped": True}


def test_error_passes_through_middleware_that_does_not_catch_it() -> None:
    log: list[str] = []

    with pytest.raises(ValueError, match="bad row 7"):
        run([recorder("outer", log)], boom)

    assert log == ["outer in"]


def test_middleware_can_hand_values_to_the_task_through_context_extra() -> None:
    context = make_context()

    seen = middleware.run([tag_tenant], tasks.add, context, lambda: context.extra["tenant"])

    assert seen == "acme"


# load()


def test_load_instantiates_a_class() -> None:
    [loaded] = middleware.load(["tests.unit.test_middleware.CountingMiddleware"], setting=SETTING)

    assert isinstance(loaded, CountingMiddleware)


def test_load_gives_each_load_its_own_instance() -> None:
    path = "tests.unit.test_middleware.CountingMiddleware"

    [first] = middleware.load([path], setting=SETTING)
    [second] = middleware.load([path], setting=SETTING)

    assert first is not second


def test_load_takes_a_function_as_it_is() -> None:
    assert middleware.load(["tests.unit.test_middleware.tag_tenant"], setting=SETTING) == [
        tag_tenant
    ]


def test_load_keeps_the_configured_order() -> None:
    loaded = middleware.load(
        [
            "django_taskflow.contrib.middleware.MetricsMiddleware",
            "django_taskflow.contrib.middleware.LoggingMiddleware",
        ],
        setting=SETTING,
    )

    assert [type(item) for item in loaded] == [MetricsMiddleware, LoggingMiddleware]


def test_loaded_class_runs_in_the_chain() -> None:
    [counting] = middleware.load(["tests.unit.test_middleware.CountingMiddleware"], setting=SETTING)

    assert run([counting], lambda: "ok") == "ok"
    assert counting.calls == 1


@pytest.mark.parametrize(
    "path",
    [
        "tests.unit.test_middleware.MissingMiddleware",
        "tests.unit.no_such_module.Timing",
        "nodots",
    ],
)
def test_load_refuses_a_path_that_does_not_import(path: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        middleware.load([path], setting=SETTING)

    assert str(info.value).startswith(f"{SETTING} names {path!r}, which cannot be loaded: ")


def test_load_refuses_a_path_to_something_not_callable() -> None:
    path = "tests.unit.test_middleware.NOT_CALLABLE"

    with pytest.raises(ConfigurationError) as info:
        middleware.load([path], setting=SETTING)

    assert str(info.value) == f"{SETTING} names {path!r}, which is not callable."


# LoggingMiddleware


@pytest.fixture
def task_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="django_taskflow.tasks"):
        yield caplog


def test_logging_middleware_logs_one_line_with_the_duration_on_success(
    task_log: pytest.LogCaptureFixture,
) -> None:
    context = make_context(attempt=2)

    result = middleware.run([LoggingMiddleware()], tasks.add, context, lambda: 3)

    assert result == 3
    [record] = task_log.records
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("tests.tasks.add attempt 2 returned after ")
    assert record.getMessage().endswith(" s")
    assert record.action == "task_returned"  # type: ignore[attr-defined]
    assert record.task_id == "task-1"  # type: ignore[attr-defined]
    assert record.worker_id == "worker-1"  # type: ignore[attr-defined]
    assert record.duration >= 0  # type: ignore[attr-defined]


def test_logging_middleware_logs_an_error_and_raises_it_again(
    task_log: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError, match="bad row 7"):
        run([LoggingMiddleware()], boom)

    [record] = task_log.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("tests.tasks.add attempt 1 raised ValueError after ")
    assert record.action == "task_raised"  # type: ignore[attr-defined]
    assert record.duration >= 0  # type: ignore[attr-defined]


# MetricsMiddleware


def test_metrics_count_calls_and_errors_per_task() -> None:
    metrics = MetricsMiddleware()

    run([metrics], lambda: 1, definition=tasks.add)
    run([metrics], lambda: 1, definition=tasks.add)
    with pytest.raises(ValueError, match="bad row"):
        run([metrics], boom, definition=tasks.add)
    run([metrics], lambda: None, definition=tasks.noop)

    snapshot = MetricsMiddleware.snapshot()
    assert set(snapshot) == {"tests.tasks.add", "tests.tasks.noop"}
    assert (snapshot["tests.tasks.add"].calls, snapshot["tests.tasks.add"].errors) == (3, 1)
    assert (snapshot["tests.tasks.noop"].calls, snapshot["tests.tasks.noop"].errors) == (1, 0)


def test_metrics_record_the_time_taken() -> None:
    run([MetricsMiddleware()], lambda: 1)

    figures = MetricsMiddleware.snapshot()["tests.tasks.add"]
    assert figures.total_seconds >= figures.max_seconds >= 0


def test_metrics_are_shared_by_every_instance() -> None:
    run([MetricsMiddleware()], lambda: 1)
    run([MetricsMiddleware()], lambda: 1)

    assert MetricsMiddleware.snapshot()["tests.tasks.add"].calls == 2


def test_metrics_snapshot_is_a_copy() -> None:
    run([MetricsMiddleware()], lambda: 1)

    MetricsMiddleware.snapshot()["tests.tasks.add"].calls = 100

    assert MetricsMiddleware.snapshot()["tests.tasks.add"].calls == 1


def test_metrics_reset_forgets_the_figures() -> None:
    run([MetricsMiddleware()], lambda: 1)

    MetricsMiddleware.reset()

    assert MetricsMiddleware.snapshot() == {}


def test_metrics_pass_the_result_through() -> None:
    assert run([MetricsMiddleware()], lambda: {"total": 3}) == {"total": 3}


def test_use_refuses_a_class_and_suggests_an_instance() -> None:

    with pytest.raises(ConfigurationError, match=r"did you mean LoggingMiddleware\(\)\?"):
        middleware.use(LoggingMiddleware)


class NeedsArguments:
    def __init__(self, level: int) -> None:
        self.level = level


def test_load_names_the_setting_when_a_middleware_cannot_be_built() -> None:
    with pytest.raises(ConfigurationError, match=r"NeedsArguments.*TypeError"):
        middleware.load([f"{__name__}.NeedsArguments"], setting=SETTING)
