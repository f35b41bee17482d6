"""Reading named server-sent events (the Responses and Messages APIs' streams) in tests."""

from __future__ import annotations

from typing import Any

import msgspec


def named_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, JSON data) pairs of an SSE body whose events all have a name."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], msgspec.json.decode(lines["data"])))
    return found
