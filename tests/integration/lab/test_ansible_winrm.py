# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab against Ansible's own winrm connection: win_ping, raw, win_reboot, failures and UNREACHABLE."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable

import pytest

from tests.integration.lab.conftest import PASSWORD, log_entries, run_ansible, write_inventory
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


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connection_plugin_put_and_fetch_file(
    wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path, scheme: str
) -> None:
    """Ansible's own winrm connection plugin (in-process) moves 1.3 MB each way; sha1 is checked by the plugin."""
    from ansible.errors import AnsibleError
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    host = new_host()
    assert wsman_lab.tls is not None
    conn = connection_loader.get("winrm", PlayContext(), "/dev/null")
    conn.set_options(
        var_options={
            "_extras": {
                "ansible_winrm_server_cert_validation": "validate",
                "ansible_winrm_ca_trust_path": str(wsman_lab.tls.ca_path),
            }
        },
        direct={
            "remote_addr": host.address,
            "remote_user": "winpatch",
            "remote_password": PASSWORD,
            "port": 5985 if scheme == "http" else 5986,
            "winrm_transport": ["ntlm"],
            "winrm_scheme": scheme,
        },
    )
    payload = os.urandom(1_300_000)
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    target = tmp_path / "fetched.bin"
    try:
        conn.put_file(str(source), r"C:\Windows\Temp\Payload.bin")
        assert host.files[r"c:\windows\temp\payload.bin"] == payload
        conn.fetch_file(r"C:\Windows\Temp\PAYLOAD.bin", str(target))
        assert target.read_bytes() == payload
        with pytest.raises(AnsibleError, match="failed to transfer file"):
            conn.fetch_file(r"C:\Windows\Temp\missing.bin", str(tmp_path / "missing.bin"))
        assert conn.exec_command("Write-Output hi") == (0, b"hi\r\n", b"")
    finally:
        conn.close()
    kinds = [i["kind"] for i in host.invocations]
    assert kinds[:2] == ["put_file", "fetch_file"] and "raw" in kinds


def test_gather_facts_minimal(wsman_lab: LabServer, new_host: NewHost, tmp_path: pathlib.Path) -> None:
    host = new_host(current_build=20348, ubr=4294, installation_type="Server", product_name="Windows Server 2022")
    inventory = write_inventory(tmp_path, wsman_lab, [host], "basic")
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "ansible.windows.setup")
    assert result.returncode == 0, result.stdout + result.stderr
    facts = json.loads(result.stdout.split("=>", 1)[1])["ansible_facts"]
    assert facts["ansible_distribution_version"] == "10.0.20348.4294"
    assert facts["ansible_os_product_type"] == "server"
    assert facts["ansible_hostname"] == host.name


@pytest.mark.parametrize(
    ("fault", "value", "rc", "expected"),
    [
        ("auth_refused", True, 4, "UNREACHABLE!"),  # refused at connect time
        ("http_500", True, 4, "wsmanfault_code': 2147500037"),  # Create fails: connect time
        ("drop_during_command", True, 2, "FAILED | rc=-1"),  # the command ran, its output never came
        ("operation_timeout_storm", 3, 0, "CHANGED | rc=0"),  # Ansible retries w:TimedOut itself
    ],
)
def test_faults_seen_by_ansible(
    wsman_lab: LabServer,
    new_host: NewHost,
    tmp_path: pathlib.Path,
    fault: str,
    value: object,
    rc: int,
    expected: str,
) -> None:
    host = new_host()
    setattr(host.faults, fault, value)
    inventory = write_inventory(tmp_path, wsman_lab, [host])
    result = run_ansible(tmp_path, "ansible", "all", "-i", str(inventory), "-m", "raw", "-a", "Write-Output hi")
    assert result.returncode == rc, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr
    fired = [e["fault"] for e in log_entries(wsman_lab, "fault", host)]
    if fault == "auth_refused":
        assert log_entries(wsman_lab, "auth_refused", host)
    else:
        assert fired and set(fired) == {fault}
