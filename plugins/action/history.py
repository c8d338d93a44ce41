# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Action plugin for hygiene.winpatch.history: append the play hosts' assessment to the history (controller side)."""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._action import ControllerAction
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import PolicyError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._history import (
    HistoryError,
    assessed_policies,
    assessments_from_hostvars,
    open_history,
    run_summary,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import Policy

ARGUMENT_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "label": {"type": "str", "default": ""},
    "policy": {"type": "dict", "default": {}},
    "catalog_date": {"type": "str"},
    "catalog_stale": {"type": "bool"},
    "started_at": {"type": "str"},
    "extra_vars": {"type": "list", "elements": "str", "default": []},
    "results_var": {"type": "str"},
}


def _started_at(checked: list[str]) -> str | None:
    """The earliest parsable ``checked_at`` of the run, as UTC ISO 8601 text."""
    times = []
    for value in checked:
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        times.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC))
    if not times:
        return None
    return min(times).astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _policy_text(policy: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{key} {policy.get(key, 'unset')}" for key in keys)


def run_policy(option: dict[str, Any], judged: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The policy to store with the run: the one the hosts were judged with, else the ``policy`` option.

    Hosts assessed by the inventory plugin or by build_facts carry ``winpatch_assessed_policy``; the option only
    describes hosts that carry none (not read, unreachable). Hosts judged with different policies fail the task,
    naming the hosts and the differing values: one run has one policy, and a wrong one would mislabel the run.
    """
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for host, policy in judged.items():
        key = json.dumps(policy, sort_keys=True)
        groups.setdefault(key, (policy, []))[1].append(host)
    if not groups:
        return dict(option)
    if len(groups) == 1:
        return next(iter(groups.values()))[0]
    policies = [policy for policy, _hosts in groups.values()]
    differ = sorted({k for p in policies for k in p if any(p.get(k) != q.get(k) for q in policies)})
    parts = []
    for policy, hosts in groups.values():
        shown = ", ".join(sorted(hosts)[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        parts.append(f"{_policy_text(policy, differ)} ({shown})")
    raise AnsibleActionFail(
        "Failed to append to the history: the hosts were judged with different policies - "
        f"{'; '.join(parts)}. A run records one policy: assess these hosts in separate runs, or with one policy"
    )


class ActionModule(ControllerAction):
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        path = os.path.expanduser(args["path"])
        if args["started_at"] and _started_at([args["started_at"]]) is None:
            raise AnsibleActionFail(
                "Failed to append to the history: option 'started_at' must be an ISO 8601 time, "
                f"got {args['started_at']!r}"
            )
        if args["catalog_date"]:
            try:
                datetime.date.fromisoformat(args["catalog_date"])
            except ValueError:
                raise AnsibleActionFail(
                    "Failed to append to the history: option 'catalog_date' must be a date (YYYY-MM-DD), "
                    f"got {args['catalog_date']!r}"
                ) from None
        # The policy is stored with the run: refuse one the collection would not accept (unknown keys included).
        try:
            Policy.from_options(args["policy"])
        except PolicyError as e:
            raise AnsibleActionFail(f"Failed to append to the history: option 'policy': {e}") from None

        # The hosts: the play's hosts, failed and unreachable ones included, unless listed explicitly.
        hosts = args["hosts"] if args["hosts"] is not None else task_vars.get("ansible_play_hosts_all", [])
        if not hosts:
            raise AnsibleActionFail(
                "Failed to append to the history: option 'hosts' is empty and the play has no hosts"
            )

        # Read each host's winpatch_* variables, validating them all before anything is written.
        try:
            rows = assessments_from_hostvars(
                hosts, task_vars.get("hostvars", {}), extra_vars=args["extra_vars"], results_var=args["results_var"]
            )
        except HistoryError as e:
            raise AnsibleActionFail(str(e)) from e
        # The policy stored is the one the hosts were actually judged with (the inventory plugin's or build_facts').
        policy = run_policy(
            args["policy"],
            assessed_policies(hosts, task_vars.get("hostvars", {}), results_var=args["results_var"]),
        )
        dates = sorted({a.catalog_date for a in rows if a.catalog_date})
        catalog_date = args["catalog_date"] or (dates[-1] if dates else None)
        stale = args["catalog_stale"]
        if stale is None:
            stale = any(a.catalog_stale for a in rows)
        started_at = _started_at(
            [args["started_at"]] if args["started_at"] else [a.checked_at for a in rows if a.checked_at]
        )

        result.update(run_summary(rows))
        result.update(
            {"path": path, "catalog_date": catalog_date, "catalog_stale": stale, "policy": policy, "changed": True}
        )

        # Check mode: report what would be appended, write nothing.
        if self._task.check_mode:
            result["run_id"] = None
            return result

        try:
            with open_history(path) as history:
                run = history.append(
                    rows,
                    started_at=started_at,
                    label=args["label"],
                    policy=policy,
                    catalog_date=catalog_date,
                    catalog_stale=stale,
                )
        except HistoryError as e:
            raise AnsibleActionFail(str(e)) from e
        result["run_id"] = run.run_id
        result["started_at"] = run.started_at
        return result
