"""``POST /v1/feedback``'s body: how good the answer of a decision was."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from turnout.wire.body import decode_body


class Feedback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A score in [0, 1] for the answer of a decision (its ``x-request-id``)."""

    decision_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    score: Annotated[float, msgspec.Meta(ge=0, le=1)]


_FEEDBACK: Final = msgspec.json.Decoder(Feedback)


def decode_feedback(body: bytes) -> Feedback:
    """Decode a feedback body.

    Raises:
        InvalidRequest: not UTF-8 JSON, or not a decision id and a score in [0, 1].
    """
    return decode_body(_FEEDBACK, body)
