# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m tests.lab``: start, stop and inspect lab fleets (see tests/lab/cli.py)."""

from __future__ import annotations

import sys

from tests.lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
