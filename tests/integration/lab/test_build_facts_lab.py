# SPDX-License-Identifier: GPL-3.0-or-later
"""The build_facts handler and the control API, driven through the real WS-Management endpoint with pywinrm."""

from __future__ import annotations

import time

import pytest
import requests
import winrm.exceptions

from tests.lab.control import ControlError
from tests.lab.scriptclient import protocol, protocol_for, run_script

pytestmark = pytest.mark.lab


def _facts(lab, name, **overrides):
    hostvars = {**lab.host_vars(name), **overrides}
    rc, result, stderr = run_script(protocol_for(hostvars), "build_facts", {})
    assert rc == 0, stderr
    assert result is not None
    return result


def test_build_facts_over_ntlm_matches_every_reachable_host(lab_fleet):
    lab = lab_fleet("small.yml")
    checked = 0
    for name, host in lab.hosts.items():
        if host.faults.down or host.faults.auth_refused:
            continue
        facts = _facts(lab, name)
        registry = facts["registry"]
        assert registry["CurrentBuild"] == str(host.current_build)
        assert registry["UBR"] == host.ubr
        assert registry["EditionID"] == host.edition_id
        assert registry["InstallationType"] == host.installation_type
        assert facts["pending_reboot"]["any"] is (host.pending_ubr is not None)
        assert facts["computer_name"] == name.upper()[:15]
        checked += 1
    assert checked == len(lab.hosts) - 2
    # the hard cases, as a client sees them
    assert _facts(lab, "w11-current")["registry"]["ProductName"].startswith("Windows 10 ")
    assert _facts(lab, "srv2025-current")["registry"]["UBR"] > 30000
    assert _facts(lab, "srv2022-azure")["hotpatch"]["enrolled"] is True
    assert _facts(lab, "w10-1909-retired")["registry"]["DisplayVersion"] is None
    invocations = lab.control.invocations("w11-current")
    assert [i["name"] for i in invocations if i["kind"] == "script"] == ["build_facts"] * 2


def test_faulty_hosts_give_the_clients_real_errors(lab_fleet):
    lab = lab_fleet("small.yml")
    refused = {**lab.host_vars("w11-auth-refused"), "ansible_winrm_transport": "basic"}
    with pytest.raises(winrm.exceptions.InvalidCredentialsError):
        run_script(protocol_for(refused), "build_facts")
    with pytest.raises(requests.exceptions.ConnectionError):
        run_script(protocol_for(lab.host_vars("srv2019-down")), "build_facts")


def test_build_facts_over_basic_https_with_validation(lab_fleet):
    lab = lab_fleet("small.yml", https=True)
    assert lab.ca_path is not None and lab.ca_path.exists()
    host = lab.hosts["w11-pending"]
    proto = protocol(host.address, transport="basic", scheme="https", ca_path=lab.ca_path)
    rc, result, stderr = run_script(proto, "build_facts")
    assert rc == 0, stderr
    assert result["registry"]["UBR"] == host.ubr
    # the inventory the fixture wrote points at the same CA
    assert "ansible_winrm_ca_trust_path" in lab.inventory.read_text()


def test_control_patch_and_reboot_change_what_the_client_reads(lab_fleet):
    lab = lab_fleet("small.yml")
    host = lab.hosts["w11-pending"]
    staged = host.pending_ubr
    assert staged is not None and staged > host.ubr
    # a PATCH changes the policy values the script reports
    lab.control.patch("w11-pending", policy={"WUServer": "http://wsus.example:8530", "UseWUServer": 1})
    facts = _facts(lab, "w11-pending")
    assert facts["policy"]["WUServer"] == "http://wsus.example:8530"
    assert facts["policy"]["UseWUServer"] == 1
    # a reboot makes the staged update the running build and clears the pending signals
    lab.control.reboot("w11-pending", downtime=0.5)
    assert lab.control.host("w11-pending")["reachable"] is False
    with pytest.raises(requests.exceptions.ConnectionError):
        run_script(protocol_for(lab.host_vars("w11-pending"), timeout=5), "build_facts")
    time.sleep(0.8)
    facts = _facts(lab, "w11-pending")
    assert facts["registry"]["UBR"] == staged
    assert facts["pending_reboot"]["any"] is False
    # a fault set at run time takes the host down, and back up
    lab.control.patch("w11-current", faults={"down": True})
    time.sleep(0.3)
    with pytest.raises(requests.exceptions.ConnectionError):
        run_script(protocol_for(lab.host_vars("w11-current"), timeout=5), "build_facts")
    lab.control.patch("w11-current", faults={"down": False})
    time.sleep(0.3)
    assert _facts(lab, "w11-current")["registry"]["UBR"] == lab.hosts["w11-current"].ubr
    entries = [e["event"] for e in lab.control.log()]
    assert "reboot" in entries


def test_control_refuses_bad_changes_and_changes_nothing(lab_fleet):
    lab = lab_fleet("small.yml")
    before = lab.control.host("w11-behind")
    with pytest.raises(ControlError, match=r"^Failed to change host w11-behind: unknown field 'ubrr'"):
        lab.control.patch("w11-behind", ubrr=1)
    with pytest.raises(ControlError, match=r"^Failed to change host w11-behind: field 'ubr' .* wrong type str$"):
        lab.control.patch("w11-behind", ubr="9999", hotpatch_enrolled=True)
    with pytest.raises(ControlError, match=r"unknown fault 'dwn'"):
        lab.control.patch("w11-behind", faults={"dwn": True})
    with pytest.raises(
        ControlError, match=r"^Failed to change host w11-behind: field 'ubr' .* must be 0 to 4294967295, got -3$"
    ):
        lab.control.patch("w11-behind", ubr=-3)
    with pytest.raises(
        ControlError, match=r"^Failed to change host w11-behind: fault 'down' must be true or false, got 1$"
    ):
        lab.control.patch("w11-behind", faults={"down": 1})
    with pytest.raises(ControlError, match=r"^Failed to reboot host w11-behind: downtime must be seconds >= 0$"):
        lab.control.reboot("w11-behind", downtime=-5)
    with pytest.raises(ControlError, match=r"no host named 'nope' in the lab") as info:
        lab.control.host("nope")
    assert info.value.status == 404
    after = lab.control.host("w11-behind")
    assert after["ubr"] == before["ubr"] and after["hotpatch_enrolled"] == before["hotpatch_enrolled"]
