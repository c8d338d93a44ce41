# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's WS-Management server (``server.LabServer``), its TLS material, auth, shells and firewall."""

from __future__ import annotations
