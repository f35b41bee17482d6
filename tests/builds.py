"""The builds the tests use: those ``turnout setup`` (``make test``) wrote to the data directory.

Tests read the default data directory (`turnout.home`), as the configs they parse with an
environment of their own do.
"""

from __future__ import annotations

from typing import Final

from turnout.home import data_home

HOME: Final = data_home({})
USE_M3: Final = HOME.encoder("use-m3")
MINILM_L6: Final = HOME.encoder("minilm-l6")
E5_SMALL: Final = HOME.encoder("e5-small")
