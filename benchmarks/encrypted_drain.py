"""The task of the ``encrypted`` figure: a no-op whose payloads are stored encrypted.

``run.py`` gives every benchmark run a fresh key (``TASKFLOW_ENCRYPTION_KEYS``).
"""

from __future__ import annotations

from django_taskflow import task


@task(encrypted=True)
def noop_encrypted() -> None:
    return None
