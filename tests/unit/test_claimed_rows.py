"""A claimed row's JSON columns as the worker reads them: the fast paths agree with the parser."""

from __future__ import annotations

import json

import pytest

from django_taskflow.claim import _json


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        '"8D54VIgXJP0IwrGTDuzYCPBGdcDqa4Q/Q3+KPPiAlVC6TuM="',  # a sealed payload: base64
        '""',
        '"été ☃"',
        '"a \\"quoted\\" word"',
        '"a\\\\b"',
        '"\\u00e9\\n"',
        '"\\ud800"',
        '[1, "two", {"three": [3]}]',
        '{"a": "\\"b\\""}',
        '"x" ',  # not a bare string: the parser decides
    ],
)
def test_each_json_column_reads_as_the_parser_reads_it(text: str) -> None:
    assert _json(text) == json.loads(text)
    assert type(_json(text)) is type(json.loads(text))


def test_empty_lists_and_dicts_are_never_shared_between_rows() -> None:
    first, second = _json("[]"), _json("[]")
    first.append(1)

    assert second == []


@pytest.mark.parametrize("text", ['"a" "b"', '"unterminated', '"a""'])
def test_text_that_is_not_json_is_refused_as_the_parser_refuses_it(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        _json(text)
