"""Index migrations that never lock the task, attempt and event tables on PostgreSQL.

A plain ``CREATE INDEX`` holds a lock that stops every enqueue, claim and
completion while it reads the table: minutes at 10 M rows. These
operations build (and drop) with ``CONCURRENTLY`` on PostgreSQL, and take
the plain path elsewhere (SQLite), where Django's own
``AddIndexConcurrently`` would fail. ``CONCURRENTLY`` cannot run inside a
transaction: a migration using them sets ``atomic = False``.

The schema they make is the one ``AddIndex`` / ``RemoveIndex`` make; only
the way the index is built differs.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """``AddIndex`` that builds with ``CREATE INDEX CONCURRENTLY`` on PostgreSQL."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _add(schema_editor, model, self.index)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _remove(schema_editor, model, self.index)


class RemoveIndexConcurrentlyOnPostgres(migrations.RemoveIndex):
    """``RemoveIndex`` that drops with ``DROP INDEX CONCURRENTLY`` on PostgreSQL."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            _remove(schema_editor, model, index)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            _add(schema_editor, model, index)


def _add(schema_editor: Any, model: Any, index: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, index, concurrently=True)
    else:
        schema_editor.add_index(model, index)


def _remove(schema_editor: Any, model: Any, index: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, index, concurrently=True)
    else:
        schema_editor.remove_index(model, index)
