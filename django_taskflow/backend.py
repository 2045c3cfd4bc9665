"""``TaskflowBackend``: django_taskflow as a ``django.tasks`` backend."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.core import checks
from django.db import connections
from django.tasks import Task
from django.tasks.backends.base import BaseTaskBackend
from django.utils.module_loading import import_string

from django_taskflow import conf, registry, sqlite_check
from django_taskflow.definition import TaskflowTask
from django_taskflow.exceptions import ConfigurationError
from django_taskflow.execution import middleware

if TYPE_CHECKING:
    from django_taskflow import enqueue_plan, results

# The modules that import the models (enqueue, results) are imported when
# first used, not with this module: the models cannot load unless the app is
# installed, and __init__ must first be able to say so.

SUPPORTED_VENDORS = ("postgresql", "sqlite")


class TaskflowBackend(BaseTaskBackend):
    """Stores tasks in the project's database; ``manage.py taskworker`` runs them.

    Configure it in ``TASKS``; its ``OPTIONS`` are listed in
    docs/reference/settings.md.
    """

    task_class = TaskflowTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if not apps.is_installed("django_taskflow"):
            raise ConfigurationError(
                f"TASKS[{alias!r}] uses django_taskflow's TaskflowBackend, but "
                "'django_taskflow' is not in INSTALLED_APPS: add it, then run "
                "`manage.py migrate` to create its tables."
            )
        self.raw_options: dict[str, Any] = dict(params.get("OPTIONS", {}))
        # What enqueue works out once per definition (enqueue_plan), by id.
        self.plans: dict[int, enqueue_plan.Plan] = {}

    @cached_property
    def config(self) -> conf.Options:
        """The parsed OPTIONS; raises ``ConfigurationError`` naming a bad one."""
        return conf.parse_options(self.alias, self.raw_options)

    def validate_task(self, task: Task[Any, Any]) -> None:
        super().validate_task(task)
        registry.register(task)

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> results.TaskflowResult:
        from django_taskflow import enqueue

        # Validated once per definition, when its enqueue plan is made.
        return enqueue.enqueue(self, task, args, kwargs)

    def enqueue_many(
        self, task: Task[Any, Any], calls: Iterable[Any]
    ) -> list[results.TaskflowResult]:
        """Enqueue one task per call in one round trip; see ``TaskflowTask.enqueue_many``."""
        from django_taskflow import enqueue

        return enqueue.enqueue_many(self, task, calls)

    async def aenqueue_many(
        self, task: Task[Any, Any], calls: Iterable[Any]
    ) -> list[results.TaskflowResult]:
        return await sync_to_async(self.enqueue_many, thread_sensitive=True)(task, list(calls))

    def get_result(self, result_id: str) -> results.TaskflowResult:
        from django_taskflow import results

        return results.load(self.config.database, result_id)

    async def aget_result(self, result_id: str) -> results.TaskflowResult:
        from django_taskflow import results

        return await results.aload(self.config.database, result_id)

    def _check_queue_names(self) -> list[checks.CheckMessage]:
        """taskflow.W003: QUEUE_WEIGHTS, QUEUE_LIMITS or an alert rule names a queue QUEUES lacks."""
        messages: list[checks.CheckMessage] = []
        if not self.queues:
            return messages  # any queue name is allowed
        for key in ("QUEUE_WEIGHTS", "QUEUE_LIMITS"):
            missing = sorted(set(self.raw_options.get(key) or ()) - set(self.queues))
            if missing:
                setting = f"TASKS[{self.alias!r}]['OPTIONS'][{key!r}]"
                messages.append(
                    checks.Warning(
                        f"{setting} names queues that TASKS[{self.alias!r}]['QUEUES'] lacks: "
                        f"{', '.join(missing)}. No task can use them, so the entries do nothing.",
                        hint=f"Add them to QUEUES, or remove them from {key}.",
                        obj=setting,
                        id="taskflow.W003",
                    )
                )
        for position, rule in enumerate(self.config.alerts.rules if self.config.alerts else ()):
            if rule.queue is not None and rule.queue not in self.queues:
                setting = f"TASKS[{self.alias!r}]['OPTIONS']['ALERTS']['RULES'][{position}]"
                messages.append(
                    checks.Warning(
                        f"{setting} (rule {rule.name!r}) watches queue {rule.queue!r}, which "
                        f"TASKS[{self.alias!r}]['QUEUES'] lacks. No task can be in it, so the "
                        "rule never fires.",
                        hint="Add the queue to QUEUES, or correct the rule's QUEUE.",
                        obj=setting,
                        id="taskflow.W003",
                    )
                )
        return messages

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages: list[checks.CheckMessage] = []
        for problem in conf.find_problems(self.alias, self.raw_options):
            messages.append(
                checks.Error(
                    problem.message,
                    hint="See the settings reference in django_taskflow's docs.",
                    obj=problem.setting,
                    id="taskflow.E001" if problem.unknown else "taskflow.E002",
                )
            )
        if messages:
            return messages
        database = self.config.database
        vendor = connections[database].vendor
        if vendor not in SUPPORTED_VENDORS:
            messages.append(
                checks.Error(
                    f"DATABASES[{database!r}] is {vendor}; django_taskflow supports "
                    "PostgreSQL and SQLite.",
                    obj=f"TASKS[{self.alias!r}]['OPTIONS']['DATABASE']",
                    id="taskflow.E003",
                )
            )
        messages += sqlite_check.check_sqlite_settings(self.alias, database, connections[database])
        messages += self._check_queue_names()
        setting = f"TASKS[{self.alias!r}]['OPTIONS']['MIDDLEWARE']"
        try:
            middleware.load(self.config.middleware, setting=setting)
        except ConfigurationError as exc:
            messages.append(checks.Error(str(exc), obj=setting, id="taskflow.E005"))
        messages += self._check_api_permissions()
        messages += self._check_encrypted_tasks()
        return messages

    def _check_encrypted_tasks(self) -> list[checks.CheckMessage]:
        """taskflow.E007: encrypted tasks of this backend, and no key to encrypt them with."""
        if self.config.encryption_keys:
            return []
        encrypted = [
            definition.module_path
            for definition in registry.definitions()
            if definition.backend == self.alias
            and (
                getattr(definition, "encrypted", False)
                or getattr(definition, "encoder", "") == "encrypted"
            )
        ]
        if not encrypted:
            return []
        setting = f"TASKS[{self.alias!r}]['OPTIONS']['ENCRYPTION_KEYS']"
        return [
            checks.Error(
                f"{', '.join(encrypted)} {'is' if len(encrypted) == 1 else 'are'} encrypted, "
                f"but {setting} is not set and neither is TASKFLOW_ENCRYPTION_KEYS: every "
                "enqueue of them fails.",
                hint='Set it to [{"id": "k1", "key": <base64 of 32 random bytes>}].',
                obj=setting,
                id="taskflow.E007",
            )
        ]

    def _check_api_permissions(self) -> list[checks.CheckMessage]:
        """taskflow.E006: an entry of OPTIONS["API_PERMISSION_CLASSES"] does not import."""
        setting = f"TASKS[{self.alias!r}]['OPTIONS']['API_PERMISSION_CLASSES']"
        messages: list[checks.CheckMessage] = []
        for path in self.raw_options.get("API_PERMISSION_CLASSES", ()):
            try:
                import_string(path)
            except ImportError as exc:
                messages.append(
                    checks.Error(
                        f"{setting} names {path!r}, which cannot be imported: {exc}",
                        hint="Give the dotted path of a DRF permission class.",
                        obj=setting,
                        id="taskflow.E006",
                    )
                )
        return messages
