"""The REST API (Django REST framework): tasks, enqueue by name, schedules, workers, stats.

Mounted at ``api/`` by ``django_taskflow.urls``; see docs/howto/api.md. It
serves the ``default`` backend. Every view is thin: a serializer or filter
validates, then one function of ``operations``, ``queries``, ``stats``,
``worker_status`` or ``enqueue_by_name`` acts. Who may see and steer what
is decided in ``django_taskflow.access``, shared with live updates.
"""
