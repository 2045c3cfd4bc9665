"""On PostgreSQL, NOTIFY live relays whenever service events are inserted, as for task events."""

from __future__ import annotations

from django.db import migrations


def _run(statements_for, apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("django_taskflow", "ServiceEvent")._meta.db_table
    for statement in statements_for(table):
        schema_editor.execute(statement)


def install(apps, schema_editor):
    from django_taskflow.db import postgres

    _run(postgres.install_service_event_notify_trigger, apps, schema_editor)


def remove(apps, schema_editor):
    from django_taskflow.db import postgres

    _run(postgres.remove_service_event_notify_trigger, apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("django_taskflow", "0019_services")]
    operations = [migrations.RunPython(install, remove)]
