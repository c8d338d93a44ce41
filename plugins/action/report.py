# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Action plugin for hygiene.winpatch.report: render the dashboard, CSV and JSON from the history (controller side)."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._action import ControllerAction
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._history import HistoryError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._report import FORMATS, write_report

ARGUMENT_SPEC: dict[str, Any] = {
    "history_path": {"type": "path", "required": True},
    "dest": {"type": "path", "required": True},
    "formats": {"type": "list", "elements": "str", "choices": list(FORMATS), "default": list(FORMATS)},
    "run_id": {"type": "int"},
    "trend_runs": {"type": "int", "default": 52},
    "title": {"type": "str", "default": "Windows patch compliance"},
}


class ActionModule(ControllerAction):
    failure_prefix = "Failed to render the report"

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        self.fail_unless_positive(args, "trend_runs")

        try:
            rendered = write_report(
                os.path.expanduser(args["history_path"]),
                os.path.expanduser(args["dest"]),
                formats=args["formats"],
                run_id=args["run_id"],
                trend_runs=args["trend_runs"],
                title=args["title"],
                check_mode=bool(self._task.check_mode),
            )
        except HistoryError as e:
            raise AnsibleActionFail(str(e)) from e
        result.update(rendered)
        return result
