# SPDX-License-Identifier: GPL-3.0-or-later
"""``ansible.windows.setup`` (gather_facts): a minimal, honest subset of the facts, from the host model."""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from tests.lab.modules import ModuleContext, module_handler

if TYPE_CHECKING:
    from tests.lab.host import SimHost


@module_handler("ansible.windows.setup", "ansible.legacy.setup", "ansible.builtin.setup")
def setup(host: SimHost, args: dict[str, Any], ctx: ModuleContext) -> dict[str, Any]:
    boot = datetime.datetime.fromtimestamp(host.boot_time, datetime.UTC)
    version = host.build
    facts = {
        "ansible_hostname": host.name,
        "ansible_nodename": host.name,
        "ansible_fqdn": host.name,
        "ansible_system": "Win32NT",
        "ansible_os_family": "Windows",
        "ansible_os_name": host.product_name,
        "ansible_os_product_type": "workstation" if host.installation_type == "Client" else "server",
        "ansible_os_installation_type": host.installation_type,
        "ansible_distribution": host.product_name,
        "ansible_distribution_version": version,
        "ansible_distribution_major_version": "10",
        "ansible_kernel": version,
        "ansible_architecture": "64-bit",
        "ansible_powershell_version": 5,
        "ansible_ip_addresses": [host.address],
        "ansible_lastboot": boot.strftime("%Y-%m-%d %H:%M:%SZ"),
        "ansible_uptime_seconds": max(0, int(time.time() - host.boot_time)),
        "ansible_reboot_pending": any(host.pending_reboot.values()) or host.pending_ubr is not None,
        "module_setup": True,
        "gather_subset": ["all"],
    }
    return {"changed": False, "ansible_facts": facts}
