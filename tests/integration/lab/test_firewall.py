# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's firewall model without a network (the server-side enforcement is in test_wsman.py)."""

from __future__ import annotations

import pytest

from tests.lab.host import FirewallProfile, FirewallRule, SimHost
from tests.lab.wsman.firewall import evaluate


def host_with(*rules: FirewallRule, **profile: object) -> SimHost:
    host = SimHost("FW1", "127.0.0.1", firewall_rules=list(rules))
    host.firewall_profiles["Domain"] = FirewallProfile(**profile)  # type: ignore[arg-type]
    return host


def test_default_host_allows_winrm_only() -> None:
    host = SimHost("FW1", "127.0.0.1")
    assert evaluate(host, "127.0.0.1", 5985).allowed
    assert evaluate(host, "127.0.0.1", 5986).allowed
    verdict = evaluate(host, "127.0.0.1", 3389)
    assert not verdict.allowed and verdict.reason == "default inbound block (profile Domain)"


@pytest.mark.parametrize(
    ("remote", "client", "allowed"),
    [
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.2"], "127.0.0.1", False),
        (["127.0.0.0/8"], "127.9.9.9", True),
        (["10.0.0.0/8"], "127.0.0.1", False),
        (["127.0.0.1-127.0.0.5"], "127.0.0.3", True),
        (["127.0.0.1-127.0.0.5"], "127.0.0.6", False),
        (["Any"], "127.0.0.1", True),
        (["not-an-address"], "127.0.0.1", False),
    ],
)
def test_remote_address_matching(remote: list[str], client: str, allowed: bool) -> None:
    host = host_with(FirewallRule("Mgmt", local_ports=[5985], remote_addresses=remote))
    assert evaluate(host, client, 5985).allowed is allowed


def test_block_wins_over_allow_and_disabled_rules_do_not_count() -> None:
    allow = FirewallRule("Allow", local_ports=[5985])
    block = FirewallRule("Block", action="block", local_ports=["5980-5990"])
    assert evaluate(host_with(allow, block), "127.0.0.1", 5985).reason == "block rule 'Block'"
    block.enabled = False
    assert evaluate(host_with(allow, block), "127.0.0.1", 5985).reason == "allow rule 'Allow'"


def test_outbound_udp_and_other_profile_rules_do_not_apply() -> None:
    rules = [
        FirewallRule("Out", direction="out", local_ports=[5985]),
        FirewallRule("Udp", protocol="udp", local_ports=[5985]),
        FirewallRule("Public only", local_ports=[5985], profiles=["Public"]),
    ]
    assert not evaluate(host_with(*rules), "127.0.0.1", 5985).allowed
    host = host_with(*rules)
    host.network_profile = "Public"
    host.firewall_profiles["Public"] = FirewallProfile()
    assert evaluate(host, "127.0.0.1", 5985).reason == "allow rule 'Public only'"


def test_gpo_without_local_rules_and_profile_off() -> None:
    allow = FirewallRule("Allow", local_ports=[5985])
    assert not evaluate(host_with(allow, allow_local_rules=False), "127.0.0.1", 5985).allowed
    assert evaluate(host_with(enabled=False), "127.0.0.1", 5985).reason == "profile Domain off"
    assert evaluate(host_with(default_inbound="allow"), "127.0.0.1", 5985).allowed
