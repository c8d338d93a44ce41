# SPDX-License-Identifier: GPL-3.0-or-later
"""Handlers for the collection's scripts. Import every handler module here so it registers."""

from __future__ import annotations

from tests.lab.handlers import build_facts  # noqa: F401
