"""The data directory: where ``turnout setup`` writes encoder builds and the default index.

``TURNOUT_HOME`` names it; else ``$XDG_DATA_HOME/turnout``; else ``~/.local/share/turnout``. An
installed turnout and a source checkout find their builds the same way, never through the
checkout's own folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

HOME_VARIABLE: Final = "TURNOUT_HOME"
DEFAULT_ENCODER: Final = "use-m3"
DEFAULT_INDEX: Final = "default"


@dataclass(frozen=True, slots=True)
class Home:
    """The data directory and the places of the builds in it."""

    root: Path

    def encoder(self, name: str = DEFAULT_ENCODER) -> Path:
        """The folder of the encoder build ``name``."""
        return self.root / "encoders" / name

    def index(self, name: str = DEFAULT_INDEX) -> Path:
        """The folder of the index build ``name``."""
        return self.root / "indexes" / name


def data_home(environ: Mapping[str, str]) -> Home:
    """The data directory that ``environ`` names, or the default one."""
    named = environ.get(HOME_VARIABLE)
    if named:
        return Home(Path(named).expanduser().resolve())
    data = environ.get("XDG_DATA_HOME")
    base = Path(data) if data else Path.home() / ".local" / "share"
    return Home((base / "turnout").resolve())
