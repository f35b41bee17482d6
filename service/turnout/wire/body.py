"""Decoding a request body with a typed decoder: every problem becomes a 400 naming its key."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from turnout.errors import InvalidRequest
from turnout.validation import describe

T = TypeVar("T")


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes, where: str = "") -> T:
    """Decode a request body (or the part of it at key path ``where``) with ``decoder``.

    Raises:
        InvalidRequest: not UTF-8 JSON, nested too deeply, or not of the decoder's type; the
            message and ``param`` name the key at fault.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        path, reason = describe(exc)
        key = ".".join(part for part in (where, path) if part).replace(".[", "[")
        raise InvalidRequest(f"{key or 'request body'}: {reason}", param=key or None) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not valid UTF-8: {exc.reason}") from exc
    except RecursionError as exc:  # msgspec recurses once per level of nesting
        raise InvalidRequest("request body is nested too deeply") from exc
