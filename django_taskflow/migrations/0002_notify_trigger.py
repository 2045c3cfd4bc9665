"""On PostgreSQL, NOTIFY waiting workers whenever tasks are inserted."""

from __future__ import annotations

from django.db import migrations


def _run(statements_for, apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("django_taskflow", "Task")._meta.db_table
    for statement in statements_for(table):
        schema_editor.execute(statement)


def install(apps, schema_editor):
    from django_taskflow.db import postgres

    _run(postgres.install_notify_trigger, apps, schema_editor)


def remove(apps, schema_editor):
    from django_taskflow.db import postgres

    _run(postgres.remove_notify_trigger, apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("django_taskflow", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
