"""Clients for the API tests: staff, the owner of some tasks, another user, anonymous."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.test import APIClient

from django_taskflow import models

API = "/taskflow/api"


@pytest.fixture(autouse=True)
def fresh_throttle_counts() -> Iterator[None]:
    """Throttling counts in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """A user with the permissions named (codenames of django_taskflow's models)."""

    def make(*codenames: str, staff: bool = False) -> User:
        user = User.objects.create_user(f"user{User.objects.count()}", is_staff=staff)
        if codenames:
            found = Permission.objects.filter(
                content_type__app_label="django_taskflow", codename__in=codenames
            )
            assert found.count() == len(codenames)
            user.user_permissions.add(*found)
        return User.objects.get(pk=user.pk)  # without a stale permission cache

    return make


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    """An API client signed in as ``user`` (through the session), or anonymous."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


def owned(task_id: str, user: User) -> models.Task:
    """Mark a task as enqueued by ``user`` (as an enqueue through the API would)."""
    models.Task.objects.filter(pk=task_id).update(enqueued_by=user)
    return models.Task.objects.get(pk=task_id)


def ids(response: Any) -> list[str]:
    return [row["id"] for row in response.json()["results"]]
