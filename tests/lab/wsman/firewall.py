# SPDX-License-Identifier: GPL-3.0-or-later
"""Windows Firewall evaluation for inbound connections to a simulated host's own endpoint.

The lab applies a host's firewall state to connections to its WinRM listeners, so a quarantine
that forgets the management rule locks the controller out, as it would in real life. The model
(a deliberate simplification of Windows Filtering Platform, documented so handlers agree):

1. The active profile is ``SimHost.network_profile`` (default ``Domain``). A profile that is off
   allows everything.
2. An enabled inbound *block* rule that matches wins.
3. Otherwise an enabled inbound *allow* rule that matches allows, unless the profile ignores local
   rules (``allow_local_rules`` False, i.e. a GPO set AllowLocalPolicyMerge=0).
4. Otherwise the profile's ``default_inbound`` action decides.

A rule matches when its protocol is tcp/any, its ``local_ports`` are empty or contain the port,
its ``remote_addresses`` are empty/``any``/``*`` or contain the client address (single addresses
or CIDR networks), and its optional ``profiles`` (empty = all) contain the active profile.
The server evaluates this when a connection is accepted; blocked connections are closed unanswered.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.host import FirewallRule, SimHost

DEFAULT_PROFILE = "Domain"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str  # e.g. "profile Domain off", "block rule 'Quarantine'", "default inbound block"


def _address_matches(entry: str, client: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    entry = entry.strip()
    if entry.lower() in ("any", "*", ""):
        return True
    try:
        if "/" in entry:
            return client in ipaddress.ip_network(entry, strict=False)
        if "-" in entry:  # a range "a.b.c.d-e.f.g.h", as New-NetFirewallRule accepts
            low, high = (ipaddress.ip_address(p.strip()) for p in entry.split("-", 1))
            return low <= client <= high  # type: ignore[operator]
        return client == ipaddress.ip_address(entry)
    except ValueError:
        return False


def _port_matches(ports: list[int] | list[str], port: int) -> bool:
    if not ports:
        return True
    for item in ports:
        text = str(item).strip().lower()
        if text in ("any", "*"):
            return True
        if "-" in text:
            low, _sep, high = text.partition("-")
            if low.isdigit() and high.isdigit() and int(low) <= port <= int(high):
                return True
        elif text.isdigit() and int(text) == port:
            return True
    return False


def rule_matches(rule: FirewallRule, client_ip: str, local_port: int, profile: str) -> bool:
    """Whether an enabled inbound rule applies to a TCP connection from ``client_ip`` to ``local_port``."""
    if not rule.enabled or rule.direction.lower() != "in":
        return False
    if rule.protocol.lower() not in ("tcp", "any", "6"):
        return False
    profiles = getattr(rule, "profiles", None) or []
    if profiles and profile.lower() not in {p.lower() for p in profiles} and "any" not in {p.lower() for p in profiles}:
        return False
    if not _port_matches(rule.local_ports, local_port):
        return False
    if not rule.remote_addresses:
        return True
    client = ipaddress.ip_address(client_ip)
    return any(_address_matches(entry, client) for entry in rule.remote_addresses)


def evaluate(host: SimHost, client_ip: str, local_port: int) -> Verdict:
    """Decide whether the host's firewall lets a TCP connection from ``client_ip`` to ``local_port`` in."""
    # No host.lock here: a handler may hold it for a while, and accepting must not wait for it. Copying the
    # rule list is atomic, and a rule changed mid-evaluation only decides this one connection.
    name = getattr(host, "network_profile", DEFAULT_PROFILE) or DEFAULT_PROFILE
    profile = next((p for n, p in list(host.firewall_profiles.items()) if n.lower() == name.lower()), None)
    if profile is None or not profile.enabled:
        return Verdict(True, f"profile {name} off")
    rules = list(host.firewall_rules)
    for rule in rules:
        if rule.action.lower() == "block" and rule_matches(rule, client_ip, local_port, name):
            return Verdict(False, f"block rule {rule.name!r}")
    if profile.allow_local_rules:
        for rule in rules:
            if rule.action.lower() == "allow" and rule_matches(rule, client_ip, local_port, name):
                return Verdict(True, f"allow rule {rule.name!r}")
    default = profile.default_inbound.lower()
    return Verdict(default == "allow", f"default inbound {default} (profile {name})")
