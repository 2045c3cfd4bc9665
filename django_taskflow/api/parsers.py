"""JSON bodies up to ``OPTIONS["API_MAX_BODY_BYTES"]``; a larger one gets a 413."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the API accepts."
    default_code = "request_too_large"


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser, which reads no more than the limit plus one byte.

    The limit is checked while reading, not against ``Content-Length``
    alone, so a chunked or lying request cannot make the server buffer
    more than the limit.
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        from django_taskflow.api.base import serving_backend

        limit = serving_backend().config.api_max_body_bytes
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge(
                f"The request body is larger than OPTIONS['API_MAX_BODY_BYTES'] = {limit} bytes."
            )
        return super().parse(io.BytesIO(body), media_type, parser_context)
