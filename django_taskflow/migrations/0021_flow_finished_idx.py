from django.db import migrations, models

from django_taskflow.db.concurrent_indexes import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ('django_taskflow', '0020_service_event_notify'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='flow',
            index=models.Index(fields=['status', 'finished_at'], name='taskflow_flow_finished_idx'),
        ),
    ]
