"""Request body parsers of the storefront API: limits checked before anything is parsed.

Python's JSON decoder recurses per nesting level, so a body nested a few thousand levels
deep raised RecursionError (a 500 with an HTML page) before any view ran. The depth and the
size are measured on the raw text first; every refusal is a DomainError, so the one
exception handler answers it in the one error shape.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from recommender.serving.errors import DomainError, PayloadTooLargeError

# The deepest body the API needs is an events batch: {"events": [{...}]}. Events may carry
# small nested extras of their own; 32 levels leave plenty of room for that.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings ignored."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


class LimitedJSONParser(parsers.JSONParser):
    """Strict JSON: at most JEWELREC_API_MAX_BODY_BYTES, MAX_JSON_DEPTH levels, no NaN/Infinity."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.JEWELREC_API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)  # a chunked body has no Content-Length to check up front
        if len(raw) > limit:
            raise PayloadTooLargeError(f"The body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise DomainError(f"The body is not valid {encoding} text.", code="malformed_json") from None
        if json_depth(text) > MAX_JSON_DEPTH:
            raise DomainError(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.", code="too_deep")
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise DomainError(f"The body is not valid JSON: {exc}", code="malformed_json") from None


class MultiPartFormParser(parsers.MultiPartParser):
    """multipart/form-data whose errors say multipart, not JSON (a missing boundary, say)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            raise DomainError(f"The body is not valid multipart/form-data: {exc.detail}",
                              code="malformed_multipart") from None
