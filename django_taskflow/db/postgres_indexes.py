"""PostgreSQL-only indexes that the migrations install, and the condition one serves."""

from __future__ import annotations

# find_tasks(tag=...): a GIN index on the tags of tagged rows only, so that
# untagged tasks (most) cost an insert nothing more than the predicate.
# Built and dropped CONCURRENTLY (migrations 0005 and 0009 are non-atomic),
# so that an upgrade never locks the task table.
TAG_INDEX = "taskflow_task_tags_idx"


def install_tag_index(task_table: str) -> list[str]:
    return [
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TAG_INDEX} ON {task_table} "
        "USING gin (tags jsonb_path_ops) WHERE tags <> '[]'::jsonb"
    ]


def remove_tag_index(task_table: str) -> list[str]:
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {TAG_INDEX}"]


def has_tag_sql(table: str) -> str:
    """A condition on the task row: its tags include the parameter.

    Repeats the partial index's predicate, so that the planner can use it.
    """
    return f"({table}.tags <> '[]'::jsonb AND {table}.tags @> jsonb_build_array(%s::text))"


# The admin's search by name: a prefix of task_path (LIKE 'prefix%'). The
# plain B-tree on task_path serves LIKE only under the "C" collation; with
# the pattern operator class it does under any.
PATH_PREFIX_INDEX = "taskflow_task_path_prefix_idx"


def install_path_prefix_index(task_table: str) -> list[str]:
    return [
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {PATH_PREFIX_INDEX} ON {task_table} "
        "(task_path varchar_pattern_ops)"
    ]


def remove_path_prefix_index(task_table: str) -> list[str]:
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {PATH_PREFIX_INDEX}"]
