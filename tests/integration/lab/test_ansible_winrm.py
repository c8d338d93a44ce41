# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab against Ansible's own winrm connection: win_ping, raw, win_reboot, failures and UNREACHABLE."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import pytest

from tests.integration.lab.conftest import log_entries, run_ansible, write_inventory
from tests.lab.host import SimHost
from tests.lab.wsman.server import LabServer

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NewHost = Callable[..., SimHost]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_win_ping_over_ntlm(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path, scheme: str) -> None:
    host = new_host()
    inventory = write_inventory(tmp_path, wsman_lab, [host], "ntlm", scheme)
    before = wsman_lab.stats.copy()
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "ansible.windows.win_ping")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{host.name} | SUCCESS" in result.stdout
    assert '"ping": "pong"' in result.stdout
    assert [i.get("module") for i in host.invocations] == ["ansible.windows.win_ping"]
    delta = wsman_lab.stats - before
    assert delta["ntlm_logons"] >= 1
    if scheme == "http":  # message encryption over HTTP, as with Windows' AllowUnencrypted=false
        assert delta["requests_encrypted"] >= 4
        assert delta["requests_plain"] <= delta["ntlm_logons"]
    else:
        assert delta["requests_https"] >= 4


def test_win_ping_module_failure_is_failed(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path) -> None:
    host = new_host()
    inventory = write_inventory(tmp_path, wsman_lab, [host])
    result = run_ansible(
        tmp_path, "ansible", "all", "-i", str(inventory), "-m", "ansible.windows.win_ping", "-a", "data=crash"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{host.name} | FAILED!" in result.stdout
    assert "boom" in result.stdout


@pytest.mark.parametrize(("transport", "scheme"), [("ntlm", "http"), ("basic", "http"), ("ntlm", "https")])
def test_raw_write_output(
    wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path, transport: str, scheme: str
) -> None:
    host = new_host()
    inventory = write_inventory(tmp_path, wsman_lab, [host], transport, scheme)
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "raw", "-a", "Write-Output hi")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{host.name} | CHANGED | rc=0 >>\nhi" in result.stdout
    assert host.invocations[-1] == {**host.invocations[-1], "kind": "raw", "script": "Write-Output hi"}


def test_raw_unrecognised_fails_and_is_logged(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path) -> None:
    host = new_host()
    inventory = write_inventory(tmp_path, wsman_lab, [host])
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "raw", "-a", "Get-Process lsass")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{host.name} | FAILED | rc=1" in result.stdout
    assert "cannot run this command" in result.stdout + result.stderr
    entries = log_entries(wsman_lab, "unrecognised_command", host)
    assert len(entries) == 1 and "Get-Process lsass" in entries[0]["command"]
    wsman_lab.log.remove(entries[0])  # expected here; the module's error list must stay clean


def test_down_host_is_unreachable(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path) -> None:
    up = new_host()
    down = new_host()
    down.faults.down = True
    inventory = write_inventory(tmp_path, wsman_lab, [up, down])
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "ansible.windows.win_ping")
    assert result.returncode == 4, result.stdout + result.stderr  # 4: some hosts unreachable
    assert f"{down.name} | UNREACHABLE!" in result.stdout
    assert "refused" in result.stdout.lower()
    assert f"{up.name} | SUCCESS" in result.stdout


def test_firewall_lockout_is_unreachable(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path) -> None:
    host = new_host(firewall_rules=[])  # default inbound block and no WinRM rule
    inventory = write_inventory(tmp_path, wsman_lab, [host])
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "ansible.windows.win_ping")
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{host.name} | UNREACHABLE!" in result.stdout
    assert host.invocations == []
    assert log_entries(wsman_lab, "firewall_block", host)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_win_reboot_play(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path, scheme: str) -> None:
    host = new_host(ubr=7171, pending_ubr=7309, pending_reboot={"cbs_reboot_pending": True})
    host.faults.reboot_downtime = 3.0
    boot_before = host.boot_filetime
    inventory = write_inventory(tmp_path, wsman_lab, [host], "ntlm", scheme)
    playbook = tmp_path / "reboot.yml"
    playbook.write_text(
        """- hosts: all
  gather_facts: false
  tasks:
    - name: Reboot
      ansible.windows.win_reboot:
        reboot_timeout: 90
        connect_timeout: 5
      register: rebooted
    - name: Show the result as JSON
      ansible.builtin.debug:
        msg: "RESULT={{ rebooted | to_json }}"
""",
        encoding="utf-8",
    )
    result = run_ansible(tmp_path, "ansible-playbook", "-i", str(inventory), str(playbook), timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "RESULT=" in x)
    outcome = json.loads(line.split("RESULT=", 1)[1].rstrip('"').replace('\\"', '"'))
    assert outcome["rebooted"] is True and outcome["changed"] is True
    assert 3 <= outcome["elapsed"] < 90
    assert host.boot_filetime > boot_before
    assert host.build == "10.0.26100.7309"
    assert host.pending_reboot == {}
    reboots = log_entries(wsman_lab, "reboot", host)
    assert len(reboots) == 1
    assert reboots[0]["build_before"] == "10.0.26100.7171"
    raw = [i.get("script") for i in host.invocations if i["kind"] == "raw"]
    assert raw[:2] == ["boot_time", "shutdown /r"]
    assert raw[-1] == "logon_test"
