# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by every test: the lab (``lab_fleet``, ``lab_octet``; see tests/lab/pytest_plugin.py)."""

from __future__ import annotations

from tests.lab.pytest_plugin import lab_fleet, lab_octet

# pytest finds fixtures by name in this module; __all__ says the imports are here to be found.
__all__ = ["lab_fleet", "lab_octet"]
