# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet files: validation errors (exact text), determinism, and distributions drawn from the real catalog."""

from __future__ import annotations

import copy
import pathlib
from collections import Counter
from typing import Any

import pytest
import yaml

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import load_catalog
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES
from tests.lab.fleet import FleetError, apportion, load_fleet
from tests.lab.handlers.build_facts import build_facts

FLEETS = pathlib.Path(__file__).resolve().parents[2] / "lab" / "fleets"


def _months_between(newer: str, older: str) -> int:
    return (int(newer[:4]) * 12 + int(newer[5:7])) - (int(older[:4]) * 12 + int(older[5:7]))


def _base() -> dict[str, Any]:
    return {
        "name": "t",
        "seed": 5,
        "sites": [{"name": "one", "subnet": "127.30.1.0/24", "count": 200}],
        "releases": {"windows_11_24h2": 1, "windows_server_2022": 1},
        "builds": {"latest": 70, "1": 15, "2": 10, "6": 5},
        "rings": {"pilot": "5%", "early": 40, "broad": "rest"},
    }


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def demo():
    return load_fleet(FLEETS / "demo.yml")


# --- the shipped fleets


def test_demo_fleet_covers_every_supported_release_and_the_hard_cases(demo, catalog):
    hosts = demo.hosts
    assert 300 <= len(hosts) <= 1000
    assert len(demo.sites) >= 3
    assert set(RELEASES) <= {h.release_id for h in hosts}
    # Server 2025 on its own 2026 numbering (26100.32xxx) and on the shared 2025 numbering
    s2025 = [h for h in hosts if h.release_id == "windows_server_2025"]
    assert any(h.ubr > 30000 for h in s2025)
    assert any(h.ubr < 30000 for h in s2025)
    # Windows 11 says "Windows 10" in ProductName
    w11 = [h for h in hosts if h.release_id.startswith("windows_11")]
    assert w11
    assert all(h.product_name.startswith("Windows 10 ") for h in w11)
    # hotpatch hosts run the real hotpatch build of their month; in a baseline month (no hotpatch) its LCU
    hot = [h for h in hosts if h.hotpatch_enrolled]
    assert len(hot) >= 5
    on_hotpatch = 0
    for host in hot:
        release = catalog.release(host.release_id)
        kinds = {u.kind for u in release.updates if u.ubr == host.ubr}
        month_has_hotpatch = any(u.kind == "HOTPATCH" and u.month == host.meta["month"] for u in release.updates)
        assert kinds == ({"HOTPATCH"} if month_has_hotpatch else {"B"}), host.name
        on_hotpatch += month_has_hotpatch
    assert on_hotpatch >= 5
    # releases past their end of support are present
    eos = [h for h in hosts if h.release_id in ("windows_11_22h2", "windows_11_21h2", "windows_server_23h2")]
    assert eos
    # a reboot pending: a newer staged UBR and the registry signals
    pending = [h for h in hosts if h.pending_ubr is not None]
    assert len(pending) >= 5
    for host in pending:
        assert host.pending_ubr > host.ubr
        assert host.pending_reboot["cbs_reboot_pending"] and host.pending_reboot["wu_reboot_required"]
    # a few faulty hosts: down, and refusing the credentials
    assert 1 <= sum(h.faults.down for h in hosts) <= 20
    assert sum(h.faults.auth_refused for h in hosts) == 2
    # sampled faults never hit the listed hard cases
    listed = [h for h in hosts if h.meta.get("listed")]
    assert len(listed) == 9
    assert not any(h.faults.down or h.faults.auth_refused or h.faults.http_500 for h in listed)
    # LTSC, IoT and Server Core editions
    assert {"EnterpriseS", "IoTEnterpriseS"} <= {h.edition_id for h in hosts}
    assert "Server Core" in {h.installation_type for h in hosts}


def test_every_catalog_host_runs_a_build_from_the_catalog(demo, catalog):
    for host in demo.hosts:
        release = catalog.release(host.release_id)
        if release is None:  # retired releases are listed with an explicit build
            assert host.meta.get("build") == host.build
            continue
        builds = {u.build for u in release.updates}
        assert (10, 0, host.current_build, host.ubr) in builds, host.name
        assert host.current_build == release.build_major


def test_small_fleet_has_one_host_per_case():
    fleet = load_fleet(FLEETS / "small.yml")
    assert 10 <= len(fleet.hosts) <= 16
    names = {h.name for h in fleet.hosts}
    assert {
        "w11-current",
        "w11-hotpatch",
        "w11-pending",
        "srv2025-current",
        "srv2019-down",
        "w11-auth-refused",
    } <= names
    assert fleet.host("srv2019-down").faults.down
    assert fleet.host("w11-pending").pending_ubr is not None
    assert fleet.host("srv2025-current").ubr > 30000
    assert fleet.host("srv2025-core-old").installation_type == "Server Core"


# --- determinism and distributions


def test_generation_is_deterministic_and_seeded():
    def fingerprint(fleet):
        return [
            (h.name, h.address, h.ring, h.release_id, h.build, h.edition_id, h.installation_type, h.pending_ubr)
            for h in fleet.hosts
        ]

    first = fingerprint(load_fleet(_base()))
    assert first == fingerprint(load_fleet(_base()))
    reseeded = _base() | {"seed": 6}
    assert first != fingerprint(load_fleet(reseeded))


def test_build_distribution_is_exact_and_drawn_from_the_catalog(catalog):
    fleet = load_fleet(_base())
    assert len(fleet.hosts) == 200
    assert Counter(h.meta["months_behind"] for h in fleet.hosts) == {0: 140, 1: 30, 2: 20, 6: 10}
    assert Counter(h.release_id for h in fleet.hosts) == {"windows_11_24h2": 100, "windows_server_2022": 100}
    for host in fleet.hosts:
        release = catalog.release(host.release_id)
        security = [u for u in release.updates if u.kind == "B"]
        running = [u for u in security if u.ubr == host.ubr]
        assert running, f"{host.name} {host.build} is not a B build of {host.release_id}"
        behind = _months_between(security[-1].month, running[0].month)
        # exactly the months asked for when the release had a B update that month, else the next older one
        wanted = host.meta["months_behind"]
        assert behind >= wanted
        if any(_months_between(security[-1].month, u.month) == wanted for u in security):
            assert behind == wanted


def test_edition_weights_override_the_defaults():
    data = _base() | {"editions": {"windows_11_24h2": {"Enterprise": 1}, "windows_server_2022": {"ServerTurbine": 1}}}
    fleet = load_fleet(data)
    assert {(h.release_id, h.edition_id) for h in fleet.hosts} == {
        ("windows_11_24h2", "Enterprise"),
        ("windows_server_2022", "ServerTurbine"),
    }
    assert {h.product_name for h in fleet.hosts if h.edition_id == "ServerTurbine"} == {
        "Windows Server 2022 Datacenter: Azure Edition"
    }


def test_rings_and_addresses():
    fleet = load_fleet(_base())
    assert Counter(h.ring for h in fleet.hosts) == {"pilot": 10, "early": 40, "broad": 150}
    addresses = [h.address for h in fleet.hosts]
    assert len(set(addresses)) == 200
    assert addresses[0] == "127.30.1.10"
    assert addresses[-1] == "127.30.1.209"


def test_second_octet_moves_every_site():
    data = _base()
    data["sites"].append({"name": "two", "subnet": "127.30.2.0/24", "count": 3})
    fleet = load_fleet(data, second_octet=211)
    assert {h.address.rsplit(".", 1)[0] for h in fleet.hosts} == {"127.211.1", "127.211.2"}


def test_apportion_uses_largest_remainder():
    assert apportion({"a": 1, "b": 1, "c": 1}, 10) == {"a": 4, "b": 3, "c": 3}
    assert apportion({"latest": 70, "1": 15, "2": 10, "6": 5}, 7) == {"latest": 5, "1": 1, "2": 1, "6": 0}


def test_inventory_carries_connection_vars_and_groups(tmp_path):
    fleet = load_fleet(FLEETS / "small.yml", second_octet=201)
    inv = fleet.inventory(ca_path=None)
    hostvars = inv["all"]["children"]["lab"]["hosts"]["w11-current"]
    assert hostvars["ansible_host"] == "127.201.1.10"
    assert hostvars["ansible_connection"] == "winrm"
    assert hostvars["ansible_winrm_transport"] == "ntlm"
    assert hostvars["winpatch_ring"] == "pilot"
    assert "w11-current" in inv["all"]["children"]["ring_pilot"]["hosts"]
    assert len(inv["all"]["children"]["site_lab"]["hosts"]) == len(fleet.hosts)
    ini = fleet.inventory_text("ini")
    assert "[ring_pilot]" in ini
    assert "w11-current ansible_host=127.201.1.10 ansible_port=5985" in ini


# --- validation: every error names the file and the field


def _error(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, data: Any) -> str:
    monkeypatch.chdir(tmp_path)
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    (tmp_path / "fleet.yml").write_text(text)
    with pytest.raises(FleetError) as info:
        load_fleet("fleet.yml")
    return str(info.value)


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_base())
    data["sites"].append({"name": "two", "subnet": "127.30.2.0/24", "count": 2})
    target: Any = data
    keys = path.split("/")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "sites/1/subnet", "127.3.0",
            "fleet.yml: sites[1].subnet: '127.3.0' is not a /24 on loopback (like 127.10.1.0/24)",
        ),
        (
            "sites/1/subnet", "10.3.0.0/24",
            "fleet.yml: sites[1].subnet: '10.3.0.0/24' is not a /24 on loopback (like 127.10.1.0/24)",
        ),
        (
            "sites/1/subnet", "127.30.1.0/24",
            "fleet.yml: sites[1].subnet: 127.30.1.0/24 is already used by site 'one'",
        ),
        ("sites/1/name", "one", "fleet.yml: sites[1].name: site 'one' is defined twice"),
        ("sites/0/count", "many", "fleet.yml: sites[0].count: must be an integer, got the string 'many'"),
        (
            "sites/0/count", 300,
            "fleet.yml: sites[0].count: 300 generated + 0 listed hosts do not fit in 127.30.1.0/24"
            " (at most 245 addresses, .10-.254)",
        ),
        (
            "sites/0/subnett", "x",
            "fleet.yml: sites[0]: unknown key 'subnett' (expected one of: name, subnet, count, releases,"
            " builds, user, password, transport, scheme, auth, policy, reboot_downtime)",
        ),
        (
            "releases", {"windows_12": 1},
            "fleet.yml: releases.windows_12: unknown release (known: " + ", ".join(sorted(RELEASES)) + ")",
        ),
        (
            "builds", {"latest-1": 5},
            "fleet.yml: builds.latest-1: must be 'latest' or a number of months behind (0-120)",
        ),
        ("builds", {"latest": -1}, "fleet.yml: builds.latest: must be at least 0.0, got -1"),
        (
            "rings", {"pilot": 150, "early": "60%"},
            "fleet.yml: rings: the rings ask for 271 hosts but the fleet has 202",
        ),
        (
            "rings", {"pilot": "half"},
            "fleet.yml: rings.pilot: must be a count, a percentage like '10%' or 'rest', got the string"
            " 'half'",
        ),
        (
            "editions", {"windows_11_24h2": {"Home": 1}},
            "fleet.yml: editions.windows_11_24h2.Home: not an edition of windows_11_24h2 (Professional,"
            " Enterprise, EnterpriseS, IoTEnterpriseS)",
        ),
        (
            "editions", {"windows_11_24h2": {"Enterprise": 0}},
            "fleet.yml: editions.windows_11_24h2: the weights add up to 0",
        ),
        ("hotpatch", 1.5, "fleet.yml: hotpatch: must be between 0.0 and 1.0, got 1.5"),
        (
            "faults", [{"hosts": "nope-*", "set": {"down": True}}],
            "fleet.yml: faults[0].hosts: 'nope-*' matches no host",
        ),
        (
            "faults", [{"set": {"dwn": True}}],
            "fleet.yml: faults[0].set: unknown key 'dwn' (expected one of: down, auth_refused, slow_seconds,"
            " operation_timeout_storm, http_500, drop_during_command, reboot_downtime)",
        ),
        (
            "faults", [{"set": {"down": "yes"}}],
            "fleet.yml: faults[0].set.down: must be true or false, got the string 'yes'",
        ),
        (
            "sites/1/password", "Other-Passw0rd!",
            "fleet.yml: sites[1].password: user 'winpatch' already has another password in site 'one'; the"
            " lab's NTLM needs one password per user name across the fleet (use another user name)",
        ),
        (
            "sites/1/transport", "kerberos",
            "fleet.yml: sites[1].transport: must be one of basic, ntlm, got 'kerberos'",
        ),
        ("sites/1/auth", ["ntlm"], None),  # valid: transport defaults to ntlm
        (
            "hosts", [{"name": "x1", "site": "three", "release": "windows_11_24h2"}],
            "fleet.yml: hosts[0].site: no site named 'three' (sites: one, two)",
        ),
        (
            "hosts", [{"name": "x1", "site": "one", "release": "windows_11_24h2", "edition": "Home"}],
            "fleet.yml: hosts[0].edition: 'Home' is not an edition of windows_11_24h2 (Professional,"
            " Enterprise, EnterpriseS, IoTEnterpriseS)",
        ),
        (
            "hosts", [{"name": "x1", "site": "one", "release": "windows_10_1909", "build": "10.0.19045.1"}],
            "fleet.yml: hosts[0].build: '10.0.19045.1' is not a build of windows_10_1909 (10.0.18363.<UBR>)",
        ),
        (
            "hosts", [{"name": "X_1", "site": "one", "release": "windows_11_24h2"}],
            "fleet.yml: hosts[0].name: 'X_1' is not a host name (a-z, 0-9, -; at most 40)",
        ),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(tmp_path, monkeypatch, path, value, message):
    data = _with(path, value)
    if message is None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "fleet.yml").write_text(yaml.safe_dump(data))
        assert len(load_fleet("fleet.yml").hosts) == 202
        return
    assert _error(tmp_path, monkeypatch, data) == message


def test_transport_must_be_accepted_by_the_hosts(tmp_path, monkeypatch):
    data = _with("sites/1/auth", ["basic"])
    assert _error(tmp_path, monkeypatch, data) == (
        "fleet.yml: sites[1].transport: 'ntlm' is not among the auth schemes the hosts accept (basic)"
    )


def test_yaml_syntax_error_names_the_line(tmp_path, monkeypatch):
    message = _error(tmp_path, monkeypatch, "name: x\nsites: [\n  {name: a, subnet: 127.1.1.0/24\n")
    assert message.startswith("fleet.yml: not valid YAML at line ")


def test_missing_file_and_wrong_top_level(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FleetError, match=r"^nothere\.yml: cannot read the fleet file: No such file or directory$"):
        load_fleet("nothere.yml")
    assert _error(tmp_path, monkeypatch, "- 1\n- 2\n") == "fleet.yml: must be a mapping, got a list"
    assert _error(tmp_path, monkeypatch, {"name": "x"}) == "fleet.yml: missing required key 'sites'"


# --- the build_facts handler, called directly on the model


def test_build_facts_handler_reports_what_windows_stores():
    fleet = load_fleet(FLEETS / "small.yml")
    facts = build_facts(fleet.host("w11-pending"), {})
    assert set(facts) == {"computer_name", "registry", "pending_reboot", "policy", "hotpatch", "last_boot"}
    registry = facts["registry"]
    assert registry["CurrentBuild"] == "26100" and isinstance(registry["UBR"], int)
    assert registry["ProductName"] == "Windows 10 Enterprise"
    assert registry["DisplayVersion"] == "24H2" and registry["ReleaseId"] == "2009"
    assert facts["pending_reboot"]["any"] is True
    assert facts["computer_name"] == "W11-PENDING"
    retired = build_facts(fleet.host("w10-1909-retired"), {})["registry"]
    assert retired["DisplayVersion"] is None and retired["ReleaseId"] == "1909"
    assert build_facts(fleet.host("srv2022-azure"), {})["hotpatch"]["enrolled"] is True
    assert build_facts(fleet.host("w11-current"), {})["hotpatch"] == {
        "enrolled": False,
        "eligible_edition": False,
        "vbs_running": False,
    }
