"""Settings for ``make bench``: the test project's, as a production site has them.

The test project defaults to ``DEBUG = True``, under which Django keeps every
query and formats its SQL, and it logs each task at INFO. Neither belongs in
a measurement of the queue, so the benchmark sets them here rather than
hoping the caller exported ``DJANGO_DEBUG=0``.

``TASKFLOW_BENCH_SQLITE_SETTINGS`` picks the SQLite connection options:
``recommended`` (the default) is WAL, ``synchronous=NORMAL``, IMMEDIATE
transactions and a busy timeout, as ``taskflow.W002`` asks; ``default`` is
what ``startproject`` gives (rollback journal, deferred transactions).
``TASKFLOW_BENCH_PG_SETTINGS`` does the same for PostgreSQL: ``recommended``
(the default) prepares the hot statements (``"prepare_threshold": 5``, as
docs/howto/postgres.md advises); ``default`` is Django's (nothing prepared).

daphne is left out of ``INSTALLED_APPS``: the test project lists it so that
``runserver`` serves websockets in the demo, while a production site starts
its ASGI server as a command of its own (``daphne project.asgi:application``)
and needs no app for it. Listed, it costs every worker about 0.2 s of
start-up (docs/howto/workers.md, "Start-up").
"""

from __future__ import annotations

import os

from testproject.settings import *  # noqa: F403
from testproject.settings import DATABASES, INSTALLED_APPS, LOGGING

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "daphne"]

DEBUG = False

# The workers' level: WARNING leaves out the per-attempt lines; run.py
# --log-level INFO (or TASKFLOW_BENCH_LOG_LEVEL=INFO) writes them.
LOGGING["loggers"]["django_taskflow"]["level"] = os.environ.get(
    "TASKFLOW_BENCH_LOG_LEVEL", "WARNING"
)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    sqlite_settings = os.environ.get("TASKFLOW_BENCH_SQLITE_SETTINGS", "recommended")
    if sqlite_settings == "default":
        DATABASES["default"]["OPTIONS"] = {}
        # Measured on purpose; the warning would only repeat in every run.
        SILENCED_SYSTEM_CHECKS = ["taskflow.W002"]
    elif sqlite_settings != "recommended":
        raise ValueError(
            f"TASKFLOW_BENCH_SQLITE_SETTINGS must be default or recommended, got {sqlite_settings!r}"
        )

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    pg_settings = os.environ.get("TASKFLOW_BENCH_PG_SETTINGS", "recommended")
    if pg_settings == "default":
        # Django's: nothing prepared. The test project's settings prepare.
        DATABASES["default"]["OPTIONS"].pop("prepare_threshold", None)
    elif pg_settings != "recommended":
        raise ValueError(
            f"TASKFLOW_BENCH_PG_SETTINGS must be default or recommended, got {pg_settings!r}"
        )
