"""``python -m service``: the same as the ``turnout`` command."""

from __future__ import annotations

import sys

from service.cli import main

sys.exit(main())
