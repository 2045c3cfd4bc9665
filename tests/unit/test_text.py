"""Storable text: NUL and lone surrogates become backslash escapes, the rest is kept."""

from __future__ import annotations

from typing import Any

import pytest

from django_taskflow.text import storable_json, storable_text

SURROGATE_NAME = b"report-\xff.csv".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("a\x00b", "a\\x00b"),
        (SURROGATE_NAME, "report-\\udcff.csv"),
        ("\x00été\udcff☃", "\\x00été\\udcff☃"),
    ],
)
def test_nul_and_lone_surrogates_become_backslash_escapes(text: str, stored: str) -> None:
    assert storable_text(text) == stored
    stored.encode("utf-8")  # every result can be stored as UTF-8


@pytest.mark.parametrize("text", ["", "plain", "été ☃ 𝄞", "tab\tnewline\n"])
def test_text_the_database_can_hold_is_kept_as_it_is(text: str) -> None:
    assert storable_text(text) is text


def test_strings_and_keys_at_any_depth_are_escaped() -> None:
    value = {"file": SURROGATE_NAME, "k\x00": [("a\x00", 1)], "n": None, "f": 1.5}

    assert storable_json(value, max_depth=10) == {
        "file": "report-\\udcff.csv",
        "k\\x00": [["a\\x00", 1]],
        "n": None,
        "f": 1.5,
    }


def test_json_without_anything_to_escape_is_returned_unchanged() -> None:
    value: dict[str, Any] = {"a": ["b", {"c": 1}], "d": "été"}

    assert storable_json(value, max_depth=10) is value


def test_nothing_is_walked_past_the_depth_limit() -> None:
    deep: list[Any] = ["a\x00"]
    value = [[deep]]

    assert storable_json(value, max_depth=2) == [[deep]]
    assert storable_json(value, max_depth=3) == [[["a\\x00"]]]
