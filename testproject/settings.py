"""Settings for the demo and test project.

``DATABASE_URL`` chooses the database: SQLite in ``var/`` by default, or for
example ``postgres://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TASKFLOW_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    # First: its runserver serves the ASGI application (websockets included).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_taskflow",
    "testproject.demo",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "testproject.wsgi.application"
ASGI_APPLICATION = "testproject.asgi.application"

# Live progress: the in-memory layer (web processes relay the event log), or
# Redis when TASKFLOW_REDIS_URL names a server (workers publish to it).
CHANNEL_LAYERS: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}
if REDIS_URL := os.environ.get("TASKFLOW_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": os.environ.get("TASKFLOW_REDIS_PREFIX", "taskflow"),
            },
        }
    }

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while a worker writes; IMMEDIATE takes
        # the write lock at BEGIN so two writers wait instead of deadlocking.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so that worker processes started by the tests
    # see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The worker's claim and record, and enqueue, run as prepared statements
    # from their fifth run on a connection (docs/howto/postgres.md).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5

TASKS = {
    "default": {
        "BACKEND": "django_taskflow.backend.TaskflowBackend",
        "QUEUES": ["critical", "high", "default", "low", "emails", "reports"],
        "OPTIONS": {
            "LEASE_SECONDS": float(os.environ.get("TASKFLOW_LEASE_SECONDS", "30")),
            "SHUTDOWN_GRACE_SECONDS": float(os.environ.get("TASKFLOW_GRACE_SECONDS", "30")),
            "CANCEL_GRACE_SECONDS": float(os.environ.get("TASKFLOW_CANCEL_GRACE_SECONDS", "10")),
            "POLL_INTERVAL": float(os.environ.get("TASKFLOW_POLL_INTERVAL", "1")),
        },
    }
}

# Tests start workers that prune by a retention they choose, e.g.
# TASKFLOW_RETENTION='{"succeeded": "1h"}'.
if RETENTION := os.environ.get("TASKFLOW_RETENTION"):
    import json

    _options: dict[str, object] = TASKS["default"]["OPTIONS"]  # type: ignore[assignment]
    _options["RETENTION"] = json.loads(RETENTION)

# Tests start workers that evaluate alert rules they choose, e.g.
# TASKFLOW_ALERTS='{"EVERY": "1s", "RULES": [...], "NOTIFY": {"WEBHOOK": "http://..."}}'.
if ALERTS := os.environ.get("TASKFLOW_ALERTS"):
    import json

    _alert_options: dict[str, object] = TASKS["default"]["OPTIONS"]  # type: ignore[assignment]
    _alert_options["ALERTS"] = json.loads(ALERTS)

# Tests start workers whose clock is off, as on a host whose clock drifted,
# to show that leases follow the database's clock: every time Django's
# timezone.now() gives in this process is shifted (the database's is not).
if CLOCK_SKEW_SECONDS := float(os.environ.get("TASKFLOW_TEST_CLOCK_SKEW_SECONDS", "0")):
    from datetime import datetime, timedelta

    from django.utils import timezone

    _host_now = timezone.now

    def _skewed_now() -> datetime:
        return _host_now() + timedelta(seconds=CLOCK_SKEW_SECONDS)

    timezone.now = _skewed_now

# Alert emails (OPTIONS["ALERTS"]) print here; tests get Django's locmem outbox.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_taskflow": {
            "handlers": ["console"],
            "level": os.environ.get("TASKFLOW_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        "django.tasks": {"level": "WARNING"},
    },
}
