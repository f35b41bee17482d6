from __future__ import annotations

import pytest

from service.config import parse_settings
from service.errors import ConfigError
from service.policy.caller import ANONYMOUS, caller_of

BASE = b"""
providers:
  - name: p
    base_url: http://127.0.0.1:9/v1
    models: [{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}]
routes:
  - {name: r, targets: [p/m]}
default_route: r
"""


def test_callers_are_told_apart_by_hashed_key_and_scoped_session() -> None:
    one = caller_of([(b"authorization", b"Bearer sk-1"), (b"x-session-id", b" chat-9 ")])
    assert one.session == "chat-9"
    assert "sk-1" not in one.key
    assert len(one.key) == 32
    two = caller_of([(b"authorization", b"Bearer sk-2"), (b"x-session-id", b"chat-9")])
    assert one.conversation(None) != two.conversation(None)
    nobody = caller_of([])
    assert (nobody.key, nobody.session) == (ANONYMOUS, None)
    assert nobody.conversation(None) is None
    assert nobody.conversation("u1") == "anonymous:user:u1"
    assert caller_of([(b"x-session-id", b"x" * 1000)]).session == "x" * 256


def test_experiments_are_checked_at_load() -> None:
    bad = (
        BASE
        + b"""
experiments:
  - {name: e, route: nope, variants: [{name: a, weight: 0, targets: [p/zzz]}]}
"""
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(bad, {})
    message = caught.value.message
    assert "experiments[0].route: unknown route 'nope'" in message
    assert "at least two variants" in message
    assert "the weights add up to 0" in message
    assert "experiments[0].variants[0].targets[0]: unknown target 'p/zzz'" in message
