# SPDX-License-Identifier: GPL-3.0-or-later
"""The hygiene.winpatch Windows lab: a real WS-Management endpoint that simulates a Windows fleet."""

from __future__ import annotations
