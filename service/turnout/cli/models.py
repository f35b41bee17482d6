"""``turnout models``: what the models.dev catalog knows, by provider or for one provider."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

import msgspec
from rich.console import Console
from rich.table import Table

from turnout.modelsdev import Listing, ModelsDev, ProviderListing, shipped_path

if TYPE_CHECKING:
    from pathlib import Path


def list_catalog(path: Path | None, provider: str | None, *, as_json: bool, out: TextIO) -> int:
    """Print every provider (no ``provider``) or one provider's models; returns the status.

    ``path`` is a models.dev database; None for the shipped snapshot.
    """
    with ModelsDev(path or shipped_path()) as database:
        if provider is None:
            rows = [_provider_row(p, len(database.models(p.id))) for p in database.providers()]
        elif database.provider(provider) is None:
            print(f"turnout: {database.snapshot} has no provider '{provider}'", file=sys.stderr)  # noqa: T201
            return 2
        else:
            rows = [_model_row(listing) for listing in database.models(provider)]
        title = f"{database.snapshot} ({database.path}); prices in USD per million tokens"
    if as_json:
        for row in rows:
            out.write(msgspec.json.encode(row).decode() + "\n")
        return 0
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ():
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row.values()))
    Console(file=out, width=160).print(table, markup=False)
    return 0


def _provider_row(provider: ProviderListing, models: int) -> dict[str, Any]:
    return {
        "provider": provider.id,
        "name": provider.name,
        "models": models,
        "base_url": provider.base_url,
        "key_env": " ".join(provider.key_env),
    }


def _model_row(listing: Listing) -> dict[str, Any]:
    prices = listing.prices
    return {
        "model": listing.id,
        "status": listing.status,
        "context": listing.context or None,
        "max_output": listing.output_limit or None,
        "input": None if prices is None else prices.input,
        "output": None if prices is None else prices.output,
        "cache_read": None if prices is None else prices.cache_read,
        "long_prompt_above": None if listing.long_context is None else listing.long_context[0],
        "capabilities": " ".join(sorted(listing.capabilities)),
    }
