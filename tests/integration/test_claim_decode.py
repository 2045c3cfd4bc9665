"""Claimed rows decoded: shortcuts for common values never share objects between tasks."""

from __future__ import annotations

import pytest

from django_taskflow.policies import RetryPolicy
from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db


def test_claimed_tasks_get_their_own_empty_arguments_and_retry_policy() -> None:
    policy = RetryPolicy.fixed(7)
    tasks.noop.using(retry=policy).enqueue()
    tasks.noop.using(retry=policy).enqueue()
    first, second = claim_for("A", limit=2)
    assert (first.args, first.kwargs, first.tags) == ([], {}, [])
    assert first.retry_policy == second.retry_policy == policy.to_json()
    first.args.append(1)
    first.kwargs["x"] = 1
    first.retry_policy["delay"] = 99
    assert (second.args, second.kwargs) == ([], {})
    assert second.retry_policy == policy.to_json()
    assert claim_for("B") == []  # nothing else was queued


def test_claimed_arguments_are_decoded() -> None:
    tasks.add.enqueue(2, b=3)
    [claimed] = claim_for("A")
    assert (claimed.args, claimed.kwargs) == ([2], {"b": 3})
