# SPDX-License-Identifier: GPL-3.0-or-later
"""The environment the ansible-* commands need to find this collection, as the Makefile sets it."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".build" / "collections"


def ansible_env(**settings: str) -> dict[str, str]:
    """``os.environ`` with the collection paths (this checkout and ansible.windows) and no colour, plus ``settings``."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(COLLECTIONS), str(REPO)]),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        **settings,
    }
