"""Decoding a request body with a typed decoder: every problem becomes a 400 naming its key."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from turnout.errors import InvalidRequest
from turnout.validation import describe

T = TypeVar("T")


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode a request body with ``decoder``; every problem is a 400 naming its key.

    Raises:
        InvalidRequest: not UTF-8 JSON, or not of the decoder's type.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        path, reason = describe(exc)
        where = f"{path}: " if path else "request body: "
        raise InvalidRequest(where + reason, param=path or None) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not valid UTF-8: {exc.reason}") from exc
