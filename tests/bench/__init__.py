# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks (not tests): run with ``make bench`` / ``make bench-lab``."""

from __future__ import annotations
