"""The rate of enqueues by name per user: DRF throttling, scope ``taskflow_enqueue``."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

SCOPE = "taskflow_enqueue"
DEFAULT_RATE = "60/minute"


class EnqueueRateThrottle(UserRateThrottle):
    """``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["taskflow_enqueue"]``, else 60/minute.

    Counted per user in Django's default cache. ``None`` as the rate turns
    the limit off, as for any DRF throttle.
    """

    scope = SCOPE

    def get_rate(self) -> str | None:
        # Read at each request, not at import as DRF's base class does, so
        # that a rate set (or changed in a test) later is the one used.
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates.get(SCOPE, DEFAULT_RATE)
        return None if rate is None else str(rate)
