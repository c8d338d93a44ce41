# SPDX-License-Identifier: GPL-3.0-or-later
"""Registry of handlers for the collection's own scripts, keyed by the name in their header line.

A script sent by the collection starts with ``# hygiene.winpatch script: <name> v<version>``.
The lab finds the handler registered for ``<name>`` and calls it with the host and the JSON
parameters the script read from stdin. The handler returns the dict the real script would print.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.lab.host import SimHost

HEADER_RE = re.compile(r"^\ufeff?#\s*hygiene\.winpatch script:\s*(?P<name>[a-z0-9_]+)\s+v(?P<version>\d+)\s*$", re.M)

Handler = Callable[[SimHost, dict[str, Any]], dict[str, Any]]
_HANDLERS: dict[str, Handler] = {}


class HandlerFailure(Exception):
    """Raised by a handler to make the script fail the way the real one would (rc 1, JSON failure)."""

    def __init__(self, msg: str, code: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = code


def script_handler(name: str) -> Callable[[Handler], Handler]:
    """Register ``func`` as the handler of the collection script ``name``."""

    def register(func: Handler) -> Handler:
        if name in _HANDLERS:
            raise ValueError(f"handler for script {name!r} registered twice")
        _HANDLERS[name] = func
        return func

    return register


def script_name(script: str) -> str | None:
    """The name in a collection script's header line, or None for any other script."""
    first = script.lstrip("\ufeff").splitlines()[0] if script.strip() else ""
    match = HEADER_RE.match(first)
    return match.group("name") if match else None


def find_handler(name: str) -> Handler | None:
    # Import the handler modules on first use so registration happens exactly once.
    import tests.lab.handlers  # noqa: F401

    return _HANDLERS.get(name)
