"""``python -m turnout``: the same as the ``turnout`` command."""

from __future__ import annotations

import sys

from turnout.cli import main

sys.exit(main())
