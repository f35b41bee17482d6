"""Hot reload: swap in a new index build as ``turnout index rebuild`` writes it.

A build that brings its own (tuned) encoder swaps in with it. Decisions in flight finish on the
build and encoder they started with; a build that fails to load is logged and skipped, and the
one in use keeps serving.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from turnout.errors import ConfigError
from turnout.routing.index import read_build_id

if TYPE_CHECKING:
    from pathlib import Path

    from turnout.routing.semantic import SemanticTier

logger = logging.getLogger(__name__)


async def reload_build(tier: SemanticTier, folder: Path, routes: set[str]) -> str:
    """Swap in the build in ``folder`` if it is not the one in use; the build id now in use.

    Decisions in flight finish on the build they started with.

    Raises:
        ConfigError: the build on disk cannot be read or does not fit (the current one stays).
    """
    build_id = await anyio.to_thread.run_sync(read_build_id, folder)
    if build_id is None:
        raise ConfigError(f"{folder}: no readable index build")
    if build_id == tier.index.build_id:
        return build_id
    build = await anyio.to_thread.run_sync(tier.load, folder, routes)
    tier.swap(build)
    logger.info("index reloaded: build %s, encoder %s", build.index.build_id, build.encoder.name)
    return build.index.build_id


async def watch_index(
    tier: SemanticTier, folder: Path, routes: set[str], *, interval_s: float
) -> None:
    """Swap in each new build of ``folder`` as ``turnout index rebuild`` writes it.

    Runs until cancelled, in the lifespan's task group. A build that fails to load is logged
    and skipped; the current one keeps serving.
    """
    while True:
        await anyio.sleep(interval_s)
        build_id = await anyio.to_thread.run_sync(read_build_id, folder)
        if build_id is None or build_id == tier.index.build_id:
            continue
        try:
            await reload_build(tier, folder, routes)
        except ConfigError as exc:
            logger.error("index %s not reloaded: %s", folder, exc.message)
