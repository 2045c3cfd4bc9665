"""Examples quoted by docs/howto/cancelling.md (run by tests/integration/test_doc_examples.py)."""

from __future__ import annotations

from django_taskflow import TaskContext, cancel_tasks, find_tasks, task

IMPORTED: list[int] = []
CLEANED: list[str] = []


@task(takes_context=True, tags=["imports"])
def import_rows(context: TaskContext, rows: list[int]) -> int:
    done = 0
    try:
        for row in rows:
            context.check_cancelled()  # raises TaskCancelled once someone cancelled it
            IMPORTED.append(row)
            done += 1
            context.report_progress(done / len(rows))  # checks too
    finally:
        CLEANED.append(context.task_id)  # runs when cancelled as well
    return done


def stop_the_imports(user: object) -> int:
    """An operator's button: cancel every import still waiting or running."""
    return cancel_tasks(tag="imports", reason="source file was wrong", by=user)


def last_failed_imports() -> list[str]:
    return [str(task.pk) for task in find_tasks(name="import_rows", status="failed")[:20]]
