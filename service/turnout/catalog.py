"""The catalog: every configured ``provider/model`` target and every route's targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from turnout.config import ModelSettings, ProviderSettings, Settings


@dataclass(frozen=True, slots=True)
class Target:
    """One model at one provider."""

    provider: ProviderSettings
    model: ModelSettings

    @property
    def id(self) -> str:
        """``provider/model``: how clients and config name a target."""
        return f"{self.provider.name}/{self.model.id}"


class Catalog:
    """Looks up targets by ``provider/model`` (or a bare model id served by one provider only)."""

    def __init__(self, settings: Settings) -> None:
        self.targets: dict[str, Target] = {
            f"{provider.name}/{model.id}": Target(provider, model)
            for provider in settings.providers
            for model in provider.models
        }
        by_model: dict[str, list[Target]] = {}
        for target in self.targets.values():
            by_model.setdefault(target.model.id, []).append(target)
        self._bare = {model: found[0] for model, found in by_model.items() if len(found) == 1}
        self.routes: dict[str, tuple[Target, ...]] = {
            route.name: tuple(self.targets[name] for name in route.targets)
            for route in settings.routes
        }

    def target(self, name: str) -> Target | None:
        """The target called ``name``, as ``provider/model`` or as an unambiguous model id."""
        return self.targets.get(name) or self._bare.get(name)
