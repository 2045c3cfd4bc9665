"""Task arguments and results: plain JSON only, refused with the path to the bad value."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from django_taskflow import models, payloads
from django_taskflow.exceptions import PayloadTooLarge, TaskflowError, UnserializablePayload

TASK_PATH = "tests.tasks.echo"
LIMIT = 1_000_000


def check_arguments(task_path: str, args: Any, kwargs: Any, max_bytes: int) -> int:
    """Encode the arguments as enqueue does; return the size they take."""
    return payloads.call_size(*payloads.encode_arguments(task_path, args, kwargs, max_bytes))


def test_plain_json_arguments_are_accepted() -> None:
    args = (1, -2.5, "text", True, None, [1, [2, "three"]], {"nested": {"list": [1, 2]}})
    kwargs = {"a": {"b": [None, False]}, "c": (1, 2), "unicode": "été ☃"}

    check_arguments(TASK_PATH, args, kwargs, LIMIT)


def test_an_int_too_long_to_write_as_text_is_refused_naming_its_path() -> None:
    with pytest.raises(UnserializablePayload) as info:
        check_arguments(TASK_PATH, (1, [10**5000]), {}, 10**9)

    assert "args[1][0] is an int of more than 4,300 digits" in str(info.value)
    assert "pass it as a str" in str(info.value)


def test_a_long_int_that_json_can_write_is_accepted() -> None:
    check_arguments(TASK_PATH, (2**70, -(10**4000)), {}, 10**9)


def test_encoded_size_counts_the_whole_call() -> None:
    # [[1],{"a":"b"}] is 15 bytes.
    assert check_arguments(TASK_PATH, (1,), {"a": "b"}, LIMIT) == 15


def test_a_call_without_arguments_is_stored_as_an_empty_list_and_dict() -> None:
    assert payloads.encode_arguments(TASK_PATH, (), {}, LIMIT) == ("[]", "{}")
    # [[],{}] is 7 bytes.
    assert check_arguments(TASK_PATH, [], {}, LIMIT) == 7
    with pytest.raises(PayloadTooLarge):
        payloads.encode_arguments(TASK_PATH, (), {}, 6)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (
            (),
            {"when": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
            "kwargs['when'] is datetime.datetime",
        ),
        (({1, 2},), {}, "args[0] is builtins.set"),
        ((), {"items": [1, object()]}, "kwargs['items'][1] is builtins.object"),
        ((), {"data": b"raw"}, "kwargs['data'] is builtins.bytes"),
        ((), {"amount": Decimal("1.10")}, "kwargs['amount'] is decimal.Decimal"),
        ((), {"ratio": float("nan")}, "kwargs['ratio'] is nan, not a finite number"),
        ((float("inf"),), {}, "args[0] is inf, not a finite number"),
        (([float("-inf")],), {}, "args[0][0] is -inf, not a finite number"),
        ((), {"counts": {1: "one"}}, "kwargs['counts'] has a key 1 of type int; keys must be str"),
        (
            (),
            {"user": {"names": ["ok", "a\x00b"]}},
            "kwargs['user']['names'][1] contains a NUL character",
        ),
    ],
)
def test_non_json_argument_is_refused_naming_its_path_and_the_task(
    args: tuple[Any, ...], kwargs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(UnserializablePayload) as info:
        check_arguments(TASK_PATH, args, kwargs, LIMIT)

    message = str(info.value)
    assert expected in message
    assert TASK_PATH in message


def test_unserializable_arguments_can_be_caught_as_type_error() -> None:
    with pytest.raises(TypeError, match=r"kwargs\['when'\]"):
        check_arguments(TASK_PATH, (), {"when": dt.date(2025, 1, 1)}, LIMIT)


def test_unserializable_payload_is_a_taskflow_error() -> None:
    with pytest.raises(TaskflowError):
        check_arguments(TASK_PATH, ({1},), {}, LIMIT)


def test_nul_character_in_a_dict_key_is_refused() -> None:
    with pytest.raises(UnserializablePayload, match=r"kwargs\['headers'\]"):
        check_arguments(TASK_PATH, (), {"headers": {"X-\x00": "v"}}, LIMIT)


def test_arguments_larger_than_max_payload_bytes_are_refused() -> None:
    with pytest.raises(PayloadTooLarge) as info:
        check_arguments(TASK_PATH, ("x" * 100,), {}, 50)

    message = str(info.value)
    assert "MAX_PAYLOAD_BYTES" in message
    assert "= 50" in message
    assert TASK_PATH in message


def test_too_large_arguments_can_be_caught_as_value_error() -> None:
    with pytest.raises(ValueError, match="MAX_PAYLOAD_BYTES"):
        check_arguments(TASK_PATH, ("x" * 100,), {}, 50)


def test_arguments_exactly_at_the_size_limit_are_accepted() -> None:
    # [["xx"],{}] is 11 bytes.
    assert check_arguments(TASK_PATH, ("xx",), {}, 11) == 11
    with pytest.raises(PayloadTooLarge):
        check_arguments(TASK_PATH, ("xx",), {}, 10)


def test_encode_result_returns_compact_json() -> None:
    encoded = payloads.encode_result({"total": [1, 2.5, None], "ok": True})

    assert encoded == '{"total":[1,2.5,null],"ok":true}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({1, 2}, "the return value is builtins.set"),
        ("a\x00b", "the return value contains a NUL character"),
        ({"when": dt.date(2025, 1, 1)}, "the return value['when'] is datetime.date"),
        ([10**5000], "the return value[0] is an int of more than"),
    ],
)
def test_encode_result_refuses_non_json_values(value: Any, expected: str) -> None:
    with pytest.raises(UnserializablePayload, match="result must be JSON-serialisable") as info:
        payloads.encode_result(value)

    assert expected in str(info.value)


def test_encoded_arguments_turn_tuples_into_lists_at_any_depth() -> None:
    args_json, kwargs_json = payloads.encode_arguments(
        TASK_PATH, ((1, (2, 3)),), {"pair": (1, (2, 3)), "list": [(4,)]}, LIMIT
    )

    assert json.loads(args_json) == [[1, [2, 3]]]
    assert json.loads(kwargs_json) == {"pair": [1, [2, 3]], "list": [[4]]}


def test_encoded_arguments_match_a_json_round_trip() -> None:
    value = ((1, "a"), {"b": (None, True, 2.5)}, [])

    args_json, _ = payloads.encode_arguments(TASK_PATH, value, {}, LIMIT)
    assert json.loads(args_json) == json.loads(json.dumps(list(value)))


# Depth: refused with the limit, never a RecursionError


def nested_lists(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_arguments_nested_as_deep_as_the_limit_are_accepted() -> None:
    payloads.encode_arguments(TASK_PATH, (nested_lists(payloads.MAX_DEPTH - 1),), {}, LIMIT)


@pytest.mark.parametrize("levels", [payloads.MAX_DEPTH, 2_000, 100_000])
def test_arguments_nested_deeper_than_the_limit_are_refused_with_the_limit(levels: int) -> None:
    with pytest.raises(UnserializablePayload, match="deeper than the limit of 500 levels"):
        payloads.encode_arguments(TASK_PATH, (nested_lists(levels),), {}, LIMIT)


def test_an_argument_that_contains_itself_is_refused_with_the_limit() -> None:
    loop: list[Any] = []
    loop.append(loop)

    with pytest.raises(UnserializablePayload, match="deeper than the limit of 500 levels"):
        payloads.encode_arguments(TASK_PATH, (), {"loop": {"inner": loop}}, LIMIT)


def test_a_result_nested_deeper_than_the_limit_is_refused_with_the_limit() -> None:
    with pytest.raises(UnserializablePayload, match="deeper than the limit of 500 levels"):
        payloads.encode_result(nested_lists(2_000))


def test_is_too_deep_agrees_with_the_encoder_and_survives_a_loop() -> None:
    loop: list[Any] = []
    loop.append(loop)

    assert not payloads.is_too_deep(nested_lists(payloads.MAX_DEPTH))
    assert payloads.is_too_deep(nested_lists(payloads.MAX_DEPTH + 1))
    assert payloads.is_too_deep({"a": [loop]})
    assert not payloads.is_too_deep(None)
    payloads.encode_result(nested_lists(payloads.MAX_DEPTH))
    with pytest.raises(UnserializablePayload):
        payloads.encode_result(nested_lists(payloads.MAX_DEPTH + 1))


def test_a_lone_surrogate_in_an_argument_is_refused() -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")

    with pytest.raises(UnserializablePayload, match=r"kwargs\['path'\] contains a lone surrogate"):
        payloads.encode_arguments(TASK_PATH, (), {"path": name}, LIMIT)


# The likely fix, named in the message


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        (dt.datetime(2025, 1, 1, 12, 0), "pass value.isoformat()"),
        (dt.date(2025, 1, 1), "pass value.isoformat()"),
        (dt.time(12, 0), "pass value.isoformat()"),
        (Decimal("1.10"), "pass str(value)"),
        (uuid.UUID(int=1), "pass str(value)"),
        ({1, 2}, "pass list(value)"),
        (frozenset({1}), "pass list(value)"),
        (models.Task(), "pass its primary key (value.pk)"),
    ],
)
def test_a_common_value_that_is_not_json_gets_its_likely_fix(value: Any, fix: str) -> None:
    with pytest.raises(UnserializablePayload) as info:
        payloads.encode_arguments(TASK_PATH, ({"when": value},), {}, LIMIT)

    assert "args[0]['when'] is " in str(info.value)
    assert fix in str(info.value)
