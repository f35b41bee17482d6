"""A router served by the real ``turnout serve`` command in a subprocess."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import ENVIRON
from tests.fakes.process import turnout_serve

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def served_url(config_text: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with turnout_serve(config_text, tmp_path_factory.mktemp("e2e"), ENVIRON) as url:
        yield url
