# SPDX-License-Identifier: GPL-3.0-or-later
"""``ansible.windows.win_ping``: returns ``ping`` = ``data``; ``data=crash`` raises, as the real module does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.lab.modules import ModuleContext, ModuleFailure, module_handler

if TYPE_CHECKING:
    from tests.lab.host import SimHost


@module_handler("ansible.windows.win_ping", "ansible.legacy.win_ping", "ansible.builtin.win_ping")
def win_ping(host: SimHost, args: dict[str, Any], ctx: ModuleContext) -> dict[str, Any]:
    unknown = sorted(set(args) - {"data"})
    if unknown:
        raise ModuleFailure(
            f"Unsupported parameters for (win_ping) module: {', '.join(unknown)}. Supported parameters include: data"
        )
    data = args.get("data", "pong")
    if data == "crash":
        raise ModuleFailure("Unhandled exception while executing module: boom", exception="boom")
    return {"changed": False, "ping": data}
