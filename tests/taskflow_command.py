"""Running ``manage.py taskflow`` in tests: its output as text, or parsed from ``--json``."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

from django.core.management import call_command


def taskflow(*args: str) -> str:
    """What ``manage.py taskflow ARGS`` prints on stdout; errors raise CommandError."""
    out = StringIO()
    call_command("taskflow", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def taskflow_json(*args: str) -> Any:
    """The JSON that ``manage.py taskflow ARGS --json`` prints, parsed."""
    return json.loads(taskflow(*args, "--json"))
