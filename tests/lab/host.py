# SPDX-License-Identifier: GPL-3.0-or-later
"""State of one simulated Windows host.

Pure state and small state transitions, no I/O. The WS-Management server (``tests/lab/wsman``)
reads the connectivity part (address, users, auth, faults, availability, firewall); the script
handlers (``tests/lab/handlers``) read and change the Windows part (registry, KBs, tasks, files).
Every mutation goes through ``SimHost.lock`` so the control API and the server threads agree.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

CURRENT_VERSION_KEY = r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion"

# Windows FILETIME epoch (1601-01-01) in seconds before the Unix epoch.
FILETIME_EPOCH_OFFSET = 11644473600


@dataclass
class Faults:
    """Faults injected for one host; every field off by default."""

    down: bool = False  # connection refused: no listener
    auth_refused: bool = False  # every credential gets a 401
    slow_seconds: float = 0.0  # delay before every reply
    operation_timeout_storm: int = 0  # Receive answers w:TimedOut this many times per command before the result
    http_500: bool = False  # every request gets a WS-Man fault (HTTP 500)
    drop_during_command: bool = False  # the connection is dropped when a command's output is first received
    reboot_downtime: float = 5.0  # seconds unreachable after a reboot

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FirewallRule:
    name: str
    group: str = ""
    direction: str = "in"  # in | out
    action: str = "allow"  # allow | block
    protocol: str = "tcp"
    local_ports: list[int] = field(default_factory=list)  # empty = any
    remote_addresses: list[str] = field(default_factory=list)  # empty = any; CIDR or single addresses
    enabled: bool = True
    profiles: list[str] = field(default_factory=list)  # Domain | Private | Public; empty = all profiles


def default_firewall_rules() -> list[FirewallRule]:
    """The inbound rules a WinRM-enabled Windows host has (as ``winrm quickconfig`` / ConfigureRemotingForAnsible)."""
    return [
        FirewallRule("WINRM-HTTP-In-TCP", group="Windows Remote Management", local_ports=[5985]),
        FirewallRule("WINRM-HTTPS-In-TCP", group="Windows Remote Management", local_ports=[5986]),
    ]


@dataclass
class FirewallProfile:
    enabled: bool = True
    default_inbound: str = "block"  # Windows default: block inbound unless a rule allows
    default_outbound: str = "allow"
    allow_local_rules: bool = True  # False when a GPO sets AllowLocalPolicyMerge=0


@dataclass
class SimHost:
    """One simulated Windows host."""

    name: str
    address: str  # loopback address, e.g. 127.1.0.10
    site: str = "site1"
    ring: str = "broad"
    # --- identity, as the registry reports it (HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion)
    release_id: str = "windows_11_24h2"
    current_build: int = 26100
    ubr: int = 0
    display_version: str = "24H2"
    edition_id: str = "Professional"
    installation_type: str = "Client"  # Client | Server | Server Core
    product_name: str = "Windows 10 Pro"  # Windows 11 still says "Windows 10" here
    # --- servicing state
    installed_kbs: list[str] = field(default_factory=list)
    pending_reboot: dict[str, bool] = field(default_factory=dict)  # cbs_reboot_pending, wu_reboot_required, ...
    pending_ubr: int | None = None  # UBR that the next reboot makes current (a staged LCU)
    hotpatch_enrolled: bool = False
    policy: dict[str, Any] = field(default_factory=dict)  # WSUS / WUfB policy registry values by value name
    registry: dict[str, dict[str, Any]] = field(default_factory=dict)  # other keys: path -> {value: data}
    # --- firewall, tasks, files
    firewall_profiles: dict[str, FirewallProfile] = field(
        default_factory=lambda: {p: FirewallProfile() for p in ("Domain", "Private", "Public")}
    )
    firewall_rules: list[FirewallRule] = field(default_factory=default_firewall_rules)
    network_profile: str = "Domain"  # the active firewall profile (see tests/lab/wsman/firewall.py)
    scheduled_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # case-insensitive paths, stored lower-cased
    boot_time: float = field(default_factory=lambda: time.time() - 86400.0)
    # --- access
    users: dict[str, str] = field(default_factory=lambda: {"winpatch": "Lab-Passw0rd!"})  # user -> password
    auth_basic: bool = True
    auth_ntlm: bool = True
    cbt_strict: bool = False  # Windows default CbtHardeningLevel=Relaxed
    faults: Faults = field(default_factory=Faults)
    # --- runtime
    down_until: float = 0.0  # unreachable (rebooting) until this time.time()
    invocations: list[dict[str, Any]] = field(default_factory=list)  # every command run, for assertions
    meta: dict[str, Any] = field(default_factory=dict)  # what the fleet generator intended (months_behind, kb, ...)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def build(self) -> str:
        return f"10.0.{self.current_build}.{self.ubr}"

    @property
    def boot_filetime(self) -> int:
        return int((self.boot_time + FILETIME_EPOCH_OFFSET) * 10_000_000)

    def current_version_values(self) -> dict[str, Any]:
        """The values of HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion, as Windows stores them."""
        return {
            "CurrentBuild": str(self.current_build),
            "CurrentBuildNumber": str(self.current_build),
            "UBR": self.ubr,
            "DisplayVersion": self.display_version,
            "EditionID": self.edition_id,
            "InstallationType": self.installation_type,
            "ProductName": self.product_name,
            "ReleaseId": "2009" if self.current_build >= 19042 else self.display_version,
            "CurrentMajorVersionNumber": 10,
            "CurrentMinorVersionNumber": 0,
        }

    def is_reachable(self, now: float | None = None) -> bool:
        return not self.faults.down and (now or time.time()) >= self.down_until

    def reboot(self, downtime: float | None = None) -> None:
        """Restart: unreachable for the downtime, then a staged update becomes the running build."""
        with self.lock:
            delay = self.faults.reboot_downtime if downtime is None else downtime
            self.down_until = time.time() + delay
            self.boot_time = self.down_until
            if self.pending_ubr is not None:
                self.ubr = self.pending_ubr
                self.pending_ubr = None
            self.pending_reboot = {}

    def record(self, kind: str, **details: Any) -> None:
        with self.lock:
            self.invocations.append({"time": time.time(), "kind": kind, **details})
