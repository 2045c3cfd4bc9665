"""The test project's settings less daphne, for the tests of what a worker loads.

daphne's app installs Twisted's reactor as it loads: about 200 modules,
``cryptography`` among them, in every process of the project. That is the
project's choice, which a worker cannot undo (docs/howto/workers.md,
"Start-up"), so the tests of what the worker itself loads leave it out.
"""

from __future__ import annotations

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "daphne"]
