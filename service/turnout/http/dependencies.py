"""Dependency providers: handlers get the lifespan's `Components` through `Provide`.

litestar reads these signatures at run time, so their types are imported at run time. The
container is not validated per request: it is built once by the lifespan, not sent by clients.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar.datastructures import State
from litestar.di import Dependency
from litestar.params import SkipValidationMarker

from turnout.components import Components

ComponentsDependency: TypeAlias = Annotated[
    Components, Dependency(kind="named"), SkipValidationMarker()
]


def components(state: State) -> Components:
    """The app's components, built by the lifespan."""
    found: Components = state.components
    return found
