# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The shared base of the collection's controller-side action plugins (catalog_update, history, report)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    """An action that works on the controller's files only: once per task, no connection, check mode aware."""

    BYPASS_HOST_LOOP = True
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    # What the action does, as the "Failed to <verb phrase>" of its error messages.
    failure_prefix = "Failed to run the action"

    def fail_unless_positive(self, args: dict[str, Any], option: str) -> None:
        """Refuse an integer option below 1, naming it and the value given."""
        if args[option] < 1:
            raise AnsibleActionFail(f"{self.failure_prefix}: option '{option}' must be >= 1, got {args[option]}")
