"""The dashboard's services card: shown to staff with ``view_service``, escaped, re-readable."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from django_taskflow import services
from django_taskflow.services import log
from tests import services as test_services

pytestmark = pytest.mark.django_db

PAGE = "/taskflow/"
CARD = "/taskflow/dashboard/services"


def client_for(django_user_model: Any, *codenames: str) -> Client:
    user = django_user_model.objects.create_user(
        f"u{django_user_model.objects.count()}", is_staff=True
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_staff_with_view_service_see_each_service_and_its_latest_event(
    django_user_model: Any,
) -> None:
    services.start("<ride-42>", test_services.Echo)
    services.send("<ride-42>", {"n": 1})
    log.record("default", "<ride-42>", log.ServiceEventKind.TAKEN_OVER, owner="host-b")
    page = client_for(django_user_model, "view_service").get(PAGE).content.decode()
    assert 'data-services="1"' in page  # the script subscribes to services
    assert 'data-service="&lt;ride-42&gt;"' in page
    assert "<ride-42>" not in page  # escaped
    assert "taken_over" in page
    card = client_for(django_user_model, "view_service").get(CARD)
    assert card.status_code == 200
    assert "&lt;ride-42&gt;" in card.content.decode()


def test_staff_without_view_service_see_no_services(django_user_model: Any) -> None:
    services.start("ride-42", test_services.Echo)
    client = client_for(django_user_model)
    page = client.get(PAGE).content.decode()
    assert "ride-42" not in page
    assert "data-services" not in page
    assert client.get(CARD).status_code == 403
