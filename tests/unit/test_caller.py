from __future__ import annotations

import pytest

from turnout.caller import ANONYMOUS, Caller, Clients, key_hash
from turnout.config import parse_settings
from turnout.errors import AuthenticationFailed, ConfigError

BASE = b"""
providers:
  - name: p
    base_url: http://127.0.0.1:9/v1
    models: [{id: m, input_per_mtok: 1, output_per_mtok: 1, context_window: 8000}]
routes:
  - {name: r, targets: [p/m]}
default_route: r
"""
KNOWN = key_hash(b"sk-known")
ADMIN = key_hash(b"sk-admin")
AUTH = f"""
clients:
  - {{name: acme, key_sha256: {KNOWN}, tier: premium, team: acme}}
auth: {{required: true, admin_key_sha256: {ADMIN}}}
""".encode()


def bearer(token: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + token)]


def test_callers_are_told_apart_by_hashed_key_and_scoped_session() -> None:
    clients = Clients(parse_settings(BASE, {}))
    one = clients.identify([*bearer(b"sk-1"), (b"x-session-id", b" chat-9 ")])
    assert one.session == "chat-9"
    assert one.key == key_hash(b"sk-1")
    assert "sk-1" not in one.key
    two = clients.identify([*bearer(b"sk-2"), (b"x-session-id", b"chat-9")])
    assert one.conversation(None) != two.conversation(None)
    nobody = clients.identify([])
    assert (nobody.key, nobody.session, nobody.client, nobody.tier) == (ANONYMOUS, None, None, None)
    assert nobody.conversation(None) is None
    assert nobody.conversation("u1") == "anonymous:user:u1"
    assert clients.identify([(b"x-session-id", b"x" * 1000)]).session == "x" * 256


def test_required_auth_admits_only_configured_clients() -> None:
    clients = Clients(parse_settings(BASE + AUTH, {}))
    known = clients.identify(bearer(b"sk-known"))
    assert known.client is not None
    assert (known.client.name, known.tier) == ("acme", "premium")
    with pytest.raises(AuthenticationFailed, match="not a known client"):
        clients.identify(bearer(b"sk-stranger"))
    with pytest.raises(AuthenticationFailed, match="missing API key"):
        clients.identify([])


def test_admin_endpoints_need_the_admin_key() -> None:
    clients = Clients(parse_settings(BASE + AUTH, {}))
    clients.require_admin(bearer(b"sk-admin"))
    for headers in (bearer(b"sk-known"), []):
        with pytest.raises(AuthenticationFailed, match="invalid admin key"):
            clients.require_admin(headers)
    with pytest.raises(AuthenticationFailed, match="admin endpoints are off"):
        Clients(parse_settings(BASE, {})).require_admin(bearer(b"sk-admin"))


def test_experiments_tiers_and_clients_are_checked_at_load() -> None:
    bad = BASE.replace(
        b"{name: r, targets: [p/m]}", b"{name: r, targets: [p/m], tiers: {vip: [p/x]}}"
    )
    bad += f"""
experiments:
  - {{name: e, route: nope, variants: [{{name: a, weight: 0, targets: [p/zzz]}}]}}
clients:
  - {{name: one, key_sha256: {KNOWN}}}
  - {{name: two, key_sha256: {KNOWN}}}
""".encode()
    with pytest.raises(ConfigError) as caught:
        parse_settings(bad, {})
    message = caught.value.message
    assert "routes[0].tiers.vip[0]: provider 'p' has no model 'x'" in message
    assert "experiments[0].route: unknown route 'nope'" in message
    assert "at least two variants" in message
    assert "the weights add up to 0" in message
    assert "experiments[0].variants[0].targets[0]: provider 'p' has no model 'zzz'" in message
    assert "clients[1].key_sha256: the same key as another client" in message
    with pytest.raises(ConfigError, match="key_sha256"):
        parse_settings(BASE + b"clients: [{name: x, key_sha256: sk-plain-key}]\n", {})


def test_a_long_user_id_makes_a_bounded_conversation_key() -> None:
    caller = Caller("k")
    long_one = caller.conversation("u" * 1_000_000)
    assert long_one is not None
    assert len(long_one) < 100
    assert long_one != caller.conversation("u" * 999_999)
    assert caller.conversation("short") == "k:user:short"
