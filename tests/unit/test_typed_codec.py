"""Typed values to JSON and back, and the version options, without a database."""

from __future__ import annotations

import datetime
import decimal
import uuid
from dataclasses import dataclass

import pytest

from django_taskflow import task
from django_taskflow.encoding.typed import codec_for
from django_taskflow.exceptions import InvalidTaskOptions, PayloadShapeError
from tests.typed_tasks import Currency, Line


@dataclass
class Shipment:
    lines: tuple[Line, ...]
    left_at: datetime.datetime | None = None
    weights: dict[str, decimal.Decimal] | None = None


@pytest.mark.parametrize(
    ("annotation", "value", "stored"),
    [
        (datetime.datetime, datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
         "2026-01-02T03:04:05+00:00"),
        (datetime.date, datetime.date(2026, 1, 2), "2026-01-02"),
        (decimal.Decimal, decimal.Decimal("0.10"), "0.10"),
        (uuid.UUID, uuid.UUID(int=5), "00000000-0000-0000-0000-000000000005"),
        (Currency, Currency.USD, "USD"),
        (list[Currency] | None, None, None),
        (Shipment, Shipment(lines=(Line("a", 1),)),
         {"lines": [{"sku": "a", "quantity": 1}], "left_at": None, "weights": None}),
        (Shipment, Shipment(lines=(), weights={"box": decimal.Decimal("1.5")}),
         {"lines": [], "left_at": None, "weights": {"box": "1.5"}}),
    ],
)  # fmt: skip
def test_a_typed_value_is_stored_as_json_and_read_back_equal(
    annotation: object, value: object, stored: object
) -> None:
    codec = codec_for(annotation)
    assert codec is not None

    assert codec.dump(value, "x") == stored
    assert codec.load(stored) == value


@pytest.mark.parametrize("annotation", [int, str, list[str], dict[str, int], object, int | str])
def test_plain_annotations_have_no_codec_and_cost_nothing(annotation: object) -> None:
    assert codec_for(annotation) is None


def test_a_nested_wrong_value_names_its_place() -> None:
    codec = codec_for(Shipment)
    assert codec is not None

    with pytest.raises(
        PayloadShapeError, match=r"^x\['weights'\]\['box'\] is float 1\.5, expected Decimal$"
    ):
        codec.dump({"lines": [], "weights": {"box": 1.5}}, "x")


def test_pydantic_models_are_typed_when_pydantic_is_installed() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        x: int
        at: datetime.date

    codec = codec_for(Point)
    assert codec is not None
    assert codec.dump(Point(x=1, at=datetime.date(2026, 1, 2)), "p") == {"x": 1, "at": "2026-01-02"}
    assert codec.load({"x": 1, "at": "2026-01-02"}) == Point(x=1, at=datetime.date(2026, 1, 2))
    with pytest.raises(PayloadShapeError, match="p is not a valid Point"):
        codec.dump({"x": "one"}, "p")


def greet(name: str) -> str:
    return name


@pytest.mark.parametrize("version", [0, -1, True, 1.5, "2", 40_000])
def test_a_version_that_is_not_a_small_whole_number_is_refused(version: object) -> None:
    with pytest.raises(InvalidTaskOptions, match=r"^version of task greet must be a whole number"):
        task(version=version)(greet)  # type: ignore[call-overload]


def test_upgrade_must_be_callable_and_neither_can_change_per_enqueue() -> None:
    with pytest.raises(InvalidTaskOptions, match=r"^upgrade of task greet must be a callable"):
        task(version=2, upgrade="upgrade_v1")(greet)  # type: ignore[call-overload]
    definition = task(version=2, upgrade=lambda args, kwargs, version: (args, kwargs))(greet)
    with pytest.raises(InvalidTaskOptions, match="version can only be given to @task"):
        definition.using(version=3)
