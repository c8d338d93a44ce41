# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab CLI: start (sharded) / status / inventory / stop, and its errors for bad input."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest
import requests
import yaml

from tests.lab.cli import control_client
from tests.lab.fleet import load_fleet
from tests.lab.scriptclient import protocol_for, run_script

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[3]
SMALL = REPO / "tests" / "lab" / "fleets" / "small.yml"


def lab_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / ".build" / "collections"), str(REPO)])
    return subprocess.run(
        [sys.executable, "-m", "tests.lab", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def state_dir(tmp_path):
    yield tmp_path / "state"
    # never leave a lab running, whatever the test did
    if (tmp_path / "state" / "state.json").exists():
        lab_cli("stop", "--state-dir", str(tmp_path / "state"))


def test_start_two_processes_inventory_status_stop(state_dir, lab_octet):
    octet = str(lab_octet)
    started = lab_cli(
        "start", "--fleet", str(SMALL), "--state-dir", str(state_dir), "--processes", "2", "--second-octet", octet
    )
    assert started.returncode == 0, started.stderr
    assert "14 hosts in 2 process(es)" in started.stdout
    state = json.loads((state_dir / "state.json").read_text())
    assert [p["hosts"] for p in state["processes"]] == [7, 7]
    assert len({p["control_url"] for p in state["processes"]}) == 2

    again = lab_cli("start", "--fleet", str(SMALL), "--state-dir", str(state_dir), "--second-octet", octet)
    assert again.returncode == 2
    assert f"error: a lab is already running from {state_dir.resolve()} (pids " in again.stderr

    status = lab_cli("status", "--state-dir", str(state_dir))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["running"] is True

    # the inventory: connection variables and groups per site and ring
    inventory = lab_cli("inventory", "--state-dir", str(state_dir), "--format", "ini")
    assert inventory.returncode == 0, inventory.stderr
    assert f"w11-current ansible_host=127.{octet}.1.10 ansible_port=5985" in inventory.stdout
    assert "[site_lab]" in inventory.stdout and "[ring_pilot]" in inventory.stdout
    written = yaml.safe_load((state_dir / "inventory.yml").read_text())
    hostvars = written["all"]["children"]["lab"]["hosts"]
    assert len(hostvars) == 14

    # hosts of both processes answer, and the control client reaches every host
    fleet = load_fleet(SMALL, second_octet=lab_octet)
    first, last = fleet.hosts[0].name, fleet.hosts[-2].name  # the last host is in process 2
    for name in (first, last):
        rc, result, stderr = run_script(protocol_for(hostvars[name]), "build_facts")
        assert rc == 0, stderr
        assert result["registry"]["UBR"] == fleet.host(name).ubr
    client = control_client(state_dir)
    assert len(client.hosts()) == 14
    client.patch(last, ubr=4242)
    rc, result, _stderr = run_script(protocol_for(hostvars[last]), "build_facts")
    assert result["registry"]["UBR"] == 4242

    stopped = lab_cli("stop", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert "lab stopped (2 process(es))" in stopped.stdout
    with pytest.raises(requests.exceptions.ConnectionError):
        run_script(protocol_for(hostvars[first], timeout=5), "build_facts")
    assert lab_cli("status", "--state-dir", str(state_dir)).returncode == 3


def test_address_in_use_is_a_clear_error(state_dir, lab_octet):
    fleet = load_fleet(SMALL, second_octet=lab_octet)
    busy = fleet.hosts[3].address
    with socket.socket() as blocker:
        blocker.bind((busy, 5985))
        blocker.listen(1)
        started = lab_cli(
            "start", "--fleet", str(SMALL), "--state-dir", str(state_dir), "--second-octet", str(lab_octet)
        )
    assert started.returncode == 2
    assert f"Failed to open the lab listener {busy}:5985 (http) for host {fleet.hosts[3].name}" in started.stderr
    assert "already in use" in started.stderr
    assert not (state_dir / "state.json").exists()


def test_malformed_fleet_file_names_the_field_and_starts_nothing(state_dir, tmp_path):
    bad = tmp_path / "fleet.yml"
    bad.write_text("name: bad\nsites:\n  - {name: a, subnet: 127.20.1.0/24}\n  - {name: b, subnet: 127.3.0}\n")
    started = lab_cli("start", "--fleet", str(bad), "--state-dir", str(state_dir))
    assert started.returncode == 2
    assert (
        started.stderr.strip()
        == f"error: {bad}: sites[1].subnet: '127.3.0' is not a /24 on loopback (like 127.10.1.0/24)"
    )
    assert not state_dir.exists()


def test_inventory_without_a_running_lab(tmp_path):
    out = tmp_path / "inv.yml"
    result = lab_cli("inventory", "--fleet", str(SMALL), "--second-octet", "77", "--https", "-o", str(out))
    assert result.returncode == 0, result.stderr
    hostvars = yaml.safe_load(out.read_text())["all"]["children"]["lab"]["hosts"]["w11-current"]
    assert hostvars["ansible_host"] == "127.77.1.10"
    assert hostvars["ansible_port"] == 5986 and hostvars["ansible_winrm_scheme"] == "https"
    assert hostvars["winpatch_site"] == "lab" and hostvars["winpatch_ring"] == "pilot"


def test_https_fleet_in_two_processes_validates_against_one_ca_bundle(state_dir, lab_octet):
    started = lab_cli(
        "start", "--fleet", str(SMALL), "--state-dir", str(state_dir), "--processes", "2", "--https",
        "--second-octet", str(lab_octet),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    state = json.loads((state_dir / "state.json").read_text())
    bundle = pathlib.Path(state["ca_path"])
    assert bundle.read_text().count("BEGIN CERTIFICATE") == 2  # one CA per process
    hostvars = yaml.safe_load((state_dir / "inventory.yml").read_text())["all"]["children"]["lab"]["hosts"]
    fleet = load_fleet(SMALL, second_octet=lab_octet)
    for name in (fleet.hosts[0].name, fleet.hosts[-2].name):  # one host in each process
        assert hostvars[name]["ansible_winrm_scheme"] == "https"
        assert hostvars[name]["ansible_port"] == 5986
        assert hostvars[name]["ansible_winrm_server_cert_validation"] == "validate"
        assert hostvars[name]["ansible_winrm_ca_trust_path"] == str(bundle)
        rc, result, stderr = run_script(protocol_for(hostvars[name]), "build_facts")  # NTLM over HTTPS
        assert rc == 0, stderr
        assert result["registry"]["UBR"] == fleet.host(name).ubr
    # a client that does not trust the lab CA is refused by certificate validation
    untrusted = {**hostvars[fleet.hosts[0].name], "ansible_winrm_ca_trust_path": None}
    with pytest.raises(requests.exceptions.SSLError):
        run_script(protocol_for(untrusted), "build_facts")
