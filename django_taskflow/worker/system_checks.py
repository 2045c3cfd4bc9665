"""The system checks a worker runs before it starts: all but the web's.

Three of Django's check tags load the web side of a project. The ``urls``
checks import the URLconf and every view it names. The ``templates``
check, and the ``admin`` check of its template settings, build the
template engines, which import every app's template tag libraries. In the
test project that pulls in our dashboard and REST API, Django REST
framework, drf-spectacular, PyYAML, Pygments and psycopg (even on SQLite):
about 490 modules and 0.1 to 0.3 s of a worker's start (docs/howto/workers.md,
"Start-up"). A worker serves no request, so it skips them; ``manage.py
check``, ``runserver`` and ``check --deploy`` still run them. A task that
renders a template or calls ``reverse()`` loads what it needs when it first
needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.core.checks.registry import CheckRegistry, registry

WEB_TAGS = frozenset({checks.Tags.urls, checks.Tags.templates, checks.Tags.admin})


class WorkerChecks(CheckRegistry):
    """The project's registered checks, less those tagged ``urls``, ``templates`` or ``admin``."""

    def get_checks(self, include_deployment_checks: bool = False) -> list[Any]:
        return [
            check
            for check in registry.get_checks(include_deployment_checks)
            if WEB_TAGS.isdisjoint(check.tags)
        ]


@contextlib.contextmanager
def without_web_checks() -> Iterator[None]:
    """Within the block, ``checks.run_checks`` (what ``BaseCommand.check``
    calls) runs every check but the web's.

    Django's ``tags`` select checks but cannot leave one out: checks
    registered with no tag (``django.contrib.auth``'s, and many projects'
    own) would be dropped too. The command runs its checks before it starts
    a thread, so no other code sees the swap.
    """
    run_all = checks.run_checks
    checks.run_checks = WorkerChecks().run_checks
    try:
        yield
    finally:
        checks.run_checks = run_all
