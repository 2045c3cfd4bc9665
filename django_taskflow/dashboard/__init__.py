"""The live dashboard at ``/taskflow/``, for staff (docs/howto/dashboard.md).

``reading`` picks the rows and figures the page shows, each through an
index and bounded however long the history; ``views`` renders them with
the app's templates and steers tasks through ``operations``. The page's
script (``static/django_taskflow/dashboard/``) follows ``/ws/taskflow/``
and changes rows in place.
"""
