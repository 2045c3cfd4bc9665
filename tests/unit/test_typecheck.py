"""Results checked against the function's return annotation, with the path to the misfit."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import (
    Annotated,
    Any,
    Literal,
    NewType,
    NotRequired,
    Optional,
    Required,
    TypedDict,
    TypeVar,
)

import pytest

from django_taskflow.typecheck import NOT_DECLARED, find_mismatch, return_type, to_json_value
from django_taskflow.types import JSONValue

UserId = NewType("UserId", int)
T = TypeVar("T")
type Scores = dict[str, list[int]]


@dataclasses.dataclass
class Point:
    x: int
    y: float


@dataclasses.dataclass
class Route:
    name: str
    stops: list[Point]
    start: Point | None = None


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class Opaque:
    pass


# return_type


def test_return_type_gives_the_resolved_annotation() -> None:
    def compute() -> list[Point]:
        return []

    assert return_type(compute) == list[Point]


def test_return_type_of_none_annotation_is_none_type() -> None:
    def nothing() -> None:
        return None

    assert return_type(nothing) is type(None)


def test_missing_return_annotation_is_not_declared() -> None:
    def compute():  # type: ignore[no-untyped-def]
        return 1

    assert return_type(compute) is NOT_DECLARED


def test_unresolvable_return_annotation_is_not_declared() -> None:
    def compute() -> Undefined:  # type: ignore[name-defined]  # noqa: F821
        return 1

    assert return_type(compute) is NOT_DECLARED


def test_unresolvable_annotation_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    def compute() -> Undefined:  # type: ignore[name-defined]  # noqa: F821
        return 1

    with caplog.at_level("DEBUG", logger="django_taskflow.typecheck"):
        return_type(compute)

    assert "Undefined" in caplog.text


# to_json_value


def test_dataclasses_become_dicts_at_any_depth() -> None:
    route = Route(name="r", stops=[Point(x=1, y=2.0)], start=Point(x=0, y=0.5))

    value = to_json_value({"routes": [route], "pair": (Point(x=3, y=4.0), 5)})

    assert value == {
        "routes": [
            {"name": "r", "stops": [{"x": 1, "y": 2.0}], "start": {"x": 0, "y": 0.5}},
        ],
        "pair": ({"x": 3, "y": 4.0}, 5),
    }


def test_other_values_are_left_as_they_are() -> None:
    opaque = Opaque()

    assert to_json_value(opaque) is opaque
    assert to_json_value([1, "a", None]) == [1, "a", None]


# Scalars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, int),
        (1, float),
        (1.5, float),
        ("a", str),
        (True, bool),
        (None, None),
        (None, type(None)),
        (object(), Any),
        ([1], object),
    ],
)
def test_value_fitting_a_scalar_type_is_accepted(value: Any, expected: Any) -> None:
    assert find_mismatch(value, expected) is None


@pytest.mark.parametrize(
    ("value", "expected", "message"),
    [
        (True, int, "the result is bool True, expected int"),
        (False, float, "the result is bool False, expected float"),
        (1.5, int, "the result is float 1.5, expected int"),
        ("1", int, "the result is str '1', expected int"),
        (1, str, "the result is int 1, expected str"),
        (1, bool, "the result is int 1, expected bool"),
        (0, None, "the result is int 0, expected None"),
    ],
)
def test_value_not_fitting_a_scalar_type_is_described(
    value: Any, expected: Any, message: str
) -> None:
    assert find_mismatch(value, expected) == message


# Containers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], list[int]),
        ([], list[str]),
        ([1, "a"], list),
        ({"a": 1}, dict[str, int]),
        ({"a": "b"}, dict),
        ([1, "a"], tuple[int, str]),
        ((1, "a"), tuple[int, str]),
        ([1, 2, 3], tuple[int, ...]),
        ([], tuple[()]),
        ([1, "x"], tuple),
        ((1, 2), Sequence[int]),
        ([1, 2], Sequence[int]),
        ({"a": [1]}, Mapping[str, list[int]]),
        ({"a": [1, 2]}, Scores),
    ],
)
def test_value_fitting_a_container_type_is_accepted(value: Any, expected: Any) -> None:
    assert find_mismatch(value, expected) is None


@pytest.mark.parametrize(
    ("value", "expected", "message"),
    [
        ({"items": [1, 2, "x"]}, dict[str, list[int]], "the result['items'][2] is str 'x'"),
        ((1, 2), list[int], "the result is tuple (1, 2), expected list[int]"),
        ("ab", list, "the result is str 'ab', expected list"),
        ([1, 2], dict, "the result is list [1, 2], expected dict"),
        ({1: "a"}, dict[str, str], "the result key 1 is int 1, expected str"),
        ([1, 2], tuple[int, str], "the result[1] is int 2, expected str"),
        ([1], tuple[int, str], "the result has 1 items, expected 2 (tuple[int, str])"),
        ([1, None], tuple[int, ...], "the result[1] is NoneType None, expected int"),
        ("ab", Sequence[str], "the result is str 'ab', expected Sequence[str]"),
        ({"a": ["b"]}, Mapping[str, list[int]], "the result['a'][0] is str 'b', expected int"),
        ({"a": [1, "2"]}, Scores, "the result['a'][1] is str '2', expected int"),
    ],
)
def test_value_not_fitting_a_container_type_names_the_path(
    value: Any, expected: Any, message: str
) -> None:
    assert find_mismatch(value, expected).startswith(message)  # type: ignore[union-attr]


# Unions, Optional, Literal


def test_union_accepts_a_value_fitting_any_member() -> None:
    assert find_mismatch(1, int | str) is None
    assert find_mismatch("a", int | str) is None


def test_union_mismatch_names_the_whole_union() -> None:
    assert find_mismatch(1.5, int | str) == "the result is float 1.5, expected int | str"
    assert find_mismatch("x", int | None) == "the result is str 'x', expected int | None"


def test_optional_accepts_none_and_the_type() -> None:
    assert find_mismatch(None, Optional[int]) is None  # noqa: UP045
    assert find_mismatch(3, int | None) is None


def test_optional_mismatch_points_inside_the_value() -> None:
    assert find_mismatch([1, "x"], list[int] | None) == "the result[1] is str 'x', expected int"


def test_literal_accepts_only_the_listed_values() -> None:
    assert find_mismatch("done", Literal["done", "failed"]) is None
    assert find_mismatch("other", Literal["done", "failed"]) == (
        "the result is str 'other', expected Literal['done', 'failed']"
    )


def test_literal_does_not_take_true_for_one() -> None:
    assert find_mismatch(True, Literal[1]) == "the result is bool True, expected Literal[1]"


# TypedDict


def test_typeddict_accepts_required_and_optional_keys() -> None:
    assert find_mismatch({"title": "Up", "year": 2009}, Movie) is None
    assert find_mismatch({"title": "Up", "year": 2009, "rating": 8}, Movie) is None


def test_typeddict_missing_required_key_is_a_mismatch() -> None:
    assert find_mismatch({"title": "Up"}, Movie) == (
        "the result is missing the key 'year' that Movie requires"
    )


def test_typeddict_extra_key_is_a_mismatch() -> None:
    assert find_mismatch({"title": "Up", "year": 2009, "studio": "Pixar"}, Movie) == (
        "the result has the key 'studio' that Movie does not define"
    )


def test_typeddict_value_of_the_wrong_type_names_the_key() -> None:
    assert find_mismatch([{"title": "Up", "year": "2009"}], list[Movie]) == (
        "the result[0]['year'] is str '2009', expected int"
    )


# Dataclasses


def test_converted_dataclass_is_accepted() -> None:
    route = Route(name="r", stops=[Point(x=1, y=2)])

    assert find_mismatch(to_json_value(route), Route) is None


def test_dataclass_field_of_the_wrong_type_names_the_nested_path() -> None:
    value = {"name": "r", "stops": [{"x": 1, "y": 2.0}, {"x": 1.5, "y": 0}], "start": None}

    assert find_mismatch(value, Route) == "the result['stops'][1]['x'] is float 1.5, expected int"


def test_dataclass_missing_field_is_a_mismatch() -> None:
    assert find_mismatch({"x": 1}, Point) == "the result is missing the field 'y' of Point"


def test_dataclass_extra_key_is_a_mismatch() -> None:
    assert find_mismatch({"x": 1, "y": 2, "z": 3}, Point) == (
        "the result has the key 'z' that Point has no field for"
    )


def test_dataclass_expects_a_dict() -> None:
    assert find_mismatch([1, 2], Point) == "the result is list [1, 2], expected Point"


# NewType, Annotated, and what cannot be checked


def test_newtype_checks_its_supertype() -> None:
    assert find_mismatch(5, UserId) is None
    assert find_mismatch("5", UserId) == "the result is str '5', expected int"


def test_annotated_checks_the_inner_type() -> None:
    assert find_mismatch(5, Annotated[int, "seconds"]) is None
    assert find_mismatch("5", Annotated[int, "seconds"]) == "the result is str '5', expected int"


@pytest.mark.parametrize("expected", [Opaque, T, list[T], "int"])  # type: ignore[valid-type]
def test_types_that_cannot_be_checked_accept_anything(expected: Any) -> None:
    assert find_mismatch(["anything", 1], expected) is None


def test_path_can_be_chosen_by_the_caller() -> None:
    assert find_mismatch("x", int, path="the validator's input") == (
        "the validator's input is str 'x', expected int"
    )


class Draft(TypedDict, total=False):
    title: Required[str]
    notes: str


def test_typeddict_total_false_needs_only_its_required_keys() -> None:
    assert find_mismatch({"title": "Up"}, Draft) is None
    assert find_mismatch({"notes": "n"}, Draft) == (
        "the result is missing the key 'title' that Draft requires"
    )


@dataclasses.dataclass
class Unresolvable:
    when: Later  # type: ignore[name-defined]  # noqa: F821


def test_dataclass_with_unresolvable_field_types_still_checks_its_keys() -> None:
    assert find_mismatch({"when": object()}, Unresolvable) is None
    assert find_mismatch({}, Unresolvable) == (
        "the result is missing the field 'when' of Unresolvable"
    )


def test_type_aliases_are_checked_through_to_their_value() -> None:
    assert find_mismatch({"a": [1, None, {"b": 2.5}]}, JSONValue) is None
    assert find_mismatch({"a": [1, {2}]}, JSONValue) == (
        "the result['a'][1] is set {2}, expected JSONScalar | list[JSONValue] | dict[str, JSONValue]"
    )


def test_union_mismatch_points_inside_the_only_member_that_holds_that_kind_of_value() -> None:
    assert find_mismatch({"n": "x"}, list[int] | dict[str, int] | str) == (
        "the result['n'] is str 'x', expected int"
    )
