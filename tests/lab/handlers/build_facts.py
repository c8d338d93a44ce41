# SPDX-License-Identifier: GPL-3.0-or-later
"""Handler for ``plugins/powershell/build_facts.ps1``: what the script would read on the simulated host.

The result has the shape the script prints (contract in docs/developing.md, "build_facts"): registry values typed as
Windows stores them (CurrentBuild a string, UBR a DWORD), values that do not exist as null, the pending-reboot signals
with their ``any``, the WSUS/WUfB policy values, hotpatch enrollment and the last boot time in UTC.
"""

from __future__ import annotations

import datetime
from typing import Any

from tests.lab.host import CURRENT_VERSION_KEY, SimHost
from tests.lab.registry import HandlerFailure, script_handler

REGISTRY_VALUES = (
    "CurrentBuild",
    "CurrentBuildNumber",
    "UBR",
    "DisplayVersion",
    "EditionID",
    "InstallationType",
    "ProductName",
    "ReleaseId",
)
PENDING_SIGNALS = ("cbs_reboot_pending", "wu_reboot_required", "pending_file_rename", "pending_computer_rename")
POLICY_VALUES = (
    "WUServer",
    "WUStatusServer",
    "TargetGroup",
    "DeferQualityUpdatesPeriodInDays",
    "PauseQualityUpdatesStartTime",
    "DisableDualScan",
    "UseWUServer",
    "NoAutoUpdate",
    "AUOptions",
)


@script_handler("build_facts")
def build_facts(host: SimHost, params: dict[str, Any]) -> dict[str, Any]:
    """Read the build, pending-reboot signals, update policy, hotpatch state and last boot; change nothing."""
    if not isinstance(params, dict):
        # the script runs ConvertFrom-Json on stdin; anything but an object is a caller bug
        raise HandlerFailure(f"Failed to read the build facts: parameters must be a JSON object, got {params!r}")
    with host.lock:
        values = {**host.current_version_values(), **host.registry.get(CURRENT_VERSION_KEY, {})}
        registry = {name: values.get(name) for name in REGISTRY_VALUES}
        pending = {signal: bool(host.pending_reboot.get(signal, False)) for signal in PENDING_SIGNALS}
        pending["any"] = any(pending.values())
        policy = {name: host.policy.get(name) for name in POLICY_VALUES}
        eligible = _hotpatch_edition(registry)
        last_boot = datetime.datetime.fromtimestamp(host.boot_time, tz=datetime.UTC)
        return {
            "computer_name": host.name.upper()[:15],  # the NetBIOS name Windows reports in COMPUTERNAME
            "registry": registry,
            "pending_reboot": pending,
            "policy": policy,
            "hotpatch": {
                "enrolled": bool(host.hotpatch_enrolled and eligible),
                "eligible_edition": eligible,
                "vbs_running": bool(host.hotpatch_enrolled),
            },
            "last_boot": last_boot.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def _hotpatch_edition(registry: dict[str, Any]) -> bool:
    """The script's edition test: Server 2022 Azure Edition, or build 26100+ Enterprise/Education/Server."""
    edition = str(registry.get("EditionID") or "")
    build = int(registry.get("CurrentBuild") or 0)
    if edition.startswith("ServerTurbine"):  # Server 2022 Datacenter: Azure Edition
        return True
    prefixes = ("Enterprise", "Education", "IoTEnterprise", "ServerDatacenter", "ServerStandard")
    return build >= 26100 and edition.startswith(prefixes)
