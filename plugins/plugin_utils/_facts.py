# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Turn a ``build_facts`` result (or the reason there is none) into the ``winpatch_*`` variables.

The inventory plugin sets them as host variables and the ``build_facts`` action returns them as
``ansible_facts``, so both give the same keys for the same host. ``winpatch_assessed_policy`` is the policy the
host was judged with (``Policy.as_dict()``), so that the history records the policy actually applied.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Set
from typing import Any

from ansible.utils.unsafe_proxy import AnsibleUnsafe, wrap_var

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19: a plain string is not marked unsafe, so nothing to undo

    def trust_as_template(value: Any) -> Any:
        return value


from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import Catalog
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._compliance import assess, unreachable_result
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import Policy

STATES = ("current", "grace", "behind", "pending_reboot", "unsupported", "unreachable", "error")
# The assessment keys copied to winpatch_<key>.
ASSESSMENT_KEYS = (
    "state",
    "release",
    "release_id",
    "build",
    "expected_build",
    "expected_kb",
    "expected_prerequisites",
    "months_behind",
    "installed_month",
    "edition_group",
    "reason",
    "catalog_date",
    "catalog_stale",
    "missing_months",
    "baseline_month",
    "end_of_support",
)
# The raw values the script read, copied to winpatch_<key> (None when the host was not read).
RAW_KEYS = ("computer_name", "registry", "pending_reboot", "policy", "hotpatch", "last_boot")


def _plain(value: Any) -> Any:
    """Dates as ISO strings and tuples as lists, so the variables survive JSON (cache, --list)."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def unsafe_templates(value: Any) -> Any:
    """``value`` with only the strings that could be templates (containing ``{`` or ``%``) marked unsafe.

    Values read from a host must never be templated. But ansible-core 2.19 prints every string an inventory
    plugin sets without trust as ``{"__ansible_unsafe": ...}`` in ``ansible-inventory --list --export``, the output
    AWX imports (community.general#8212), so ``winpatch_state == 'behind'`` fails there. A string without ``{``
    or ``%`` cannot contain a template, so it is marked trusted (``trust_as_template``) and exported plain; the
    others stay untrusted (``wrap_var``) and are never templated. Dicts (keys too), lists and sets are walked;
    other values are returned as they are. The rule of community.docker's and community.dns's ``make_unsafe``.
    """
    if value is None or isinstance(value, AnsibleUnsafe):
        return value
    if isinstance(value, Mapping):
        return {unsafe_templates(k): unsafe_templates(v) for k, v in value.items()}
    if isinstance(value, Set):
        return {unsafe_templates(v) for v in value}
    if isinstance(value, list | tuple):
        return type(value)(unsafe_templates(v) for v in value)
    if isinstance(value, str):
        return wrap_var(value) if "{" in value or "%" in value else trust_as_template(value)
    if isinstance(value, bytes):
        return wrap_var(value) if b"{" in value or b"%" in value else value
    return value


def assess_values(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The ``values`` argument of ``assess()`` from a build_facts result."""
    registry = facts.get("registry")
    values: dict[str, Any] = dict(registry) if isinstance(registry, Mapping) else {}
    pending = facts.get("pending_reboot")
    if isinstance(pending, Mapping) and "any" in pending:
        values["pending_reboot"] = pending["any"]
    hotpatch = facts.get("hotpatch")
    if isinstance(hotpatch, Mapping) and "enrolled" in hotpatch:
        values["hotpatch_enrolled"] = hotpatch["enrolled"]
    return values


def host_variables(
    facts: Mapping[str, Any] | None,
    catalog: Catalog,
    policy: Policy,
    *,
    failure_kind: str = "",
    failure_reason: str = "",
    checked_at: str | None = None,
) -> dict[str, Any]:
    """The ``winpatch_*`` variables of one host.

    ``facts`` is the script's result; when it is None the host was not read, and ``failure_kind``
    (``unreachable`` or ``error``) with ``failure_reason`` say why.
    """
    if facts is not None and isinstance(facts.get("registry"), Mapping):
        result = assess(assess_values(facts), catalog, **policy.as_dict())
    else:
        if facts is not None:
            failure_kind, failure_reason = "error", "the script result has no registry values"
        result = unreachable_result(failure_reason, catalog, as_of=policy.as_of)
        if failure_kind != "unreachable":
            result["state"] = "error"
    variables = {f"winpatch_{key}": _plain(result.get(key)) for key in ASSESSMENT_KEYS}
    for key in RAW_KEYS:
        variables[f"winpatch_{key}"] = _plain(facts.get(key)) if facts is not None else None
    variables["winpatch_assessed_policy"] = policy.as_dict()
    variables["winpatch_checked_at"] = checked_at or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return variables
