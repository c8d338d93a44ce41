# SPDX-License-Identifier: GPL-3.0-or-later
"""The build_facts action, run by the real ``ansible-playbook`` over the winrm connection against the lab."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.regen_golden import AS_OF, ansible_bin, ansible_env, inventory_list, write_config

pytestmark = pytest.mark.lab

PLAYBOOK = """
- name: Read the build facts
  hosts: lab
  gather_facts: false
  tasks:
    - name: Read and assess
      hygiene.winpatch.build_facts:
        as_of: "{as_of}"
        {extra}
    - name: Save the facts on the controller (also in check mode)
      ansible.builtin.copy:
        content: "{{{{ ansible_facts | to_json }}}}"
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        mode: "0600"
      delegate_to: localhost
      check_mode: false
      changed_when: false
"""


def run_playbook(
    tmp_path: pathlib.Path, inventory: pathlib.Path, *args: str, extra: str = ""
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
    """Run the play; return the process, the saved facts per host and the recap counters per host."""
    out = tmp_path / "facts"
    out.mkdir(exist_ok=True)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK.format(as_of=AS_OF, out=out, extra=extra), encoding="utf-8")
    proc = subprocess.run(
        [ansible_bin("ansible-playbook"), "-i", str(inventory), str(playbook), *args],
        capture_output=True,
        text=True,
        env={**ansible_env(), "ANSIBLE_LOCALHOST_WARNING": "false"},
        timeout=300,
        check=False,
    )
    facts = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")}
    recap = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line)
        if match and "ok=" in match.group(2):
            recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return proc, facts, recap


def tiny(**hosts: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "tiny",
        "seed": 9,
        "sites": [{"name": "lab", "subnet": "127.10.3.0/24"}],
        "hosts": [{"name": name, "site": "lab", **fields} for name, fields in hosts.items()],
    }


def test_facts_match_the_inventory_plugin_in_check_mode(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(
        tiny(
            cur={"release": "windows_server_2025", "edition": "ServerDatacenter"},
            old={"release": "windows_11_24h2", "edition": "Professional", "months_behind": 3},
            pend={"release": "windows_11_24h2", "edition": "Enterprise", "months_behind": 1, "pending_reboot": True},
            down={"release": "windows_server_2019", "faults": {"down": True}},
        )
    )
    before = {name: (h.ubr, dict(h.pending_reboot)) for name, h in lab.hosts.items()}
    proc, facts, recap = run_playbook(tmp_path, lab.inventory, "--check")

    # The down host is unreachable, the others are read; nothing changed, on the hosts either.
    assert recap["down"]["unreachable"] == 1, proc.stdout
    # The same reason as the inventory plugin gives (not pywinrm's "HTTPConnectionPool ... Max retries exceeded").
    down = lab.hosts["down"].address
    assert f"Failed to connect to down to read the build facts: connection refused by {down}:5985" in proc.stdout
    assert "Max retries exceeded" not in proc.stdout
    for name in ("cur", "old", "pend"):
        assert recap[name]["failed"] == 0 and recap[name]["unreachable"] == 0, proc.stdout
        assert recap[name]["changed"] == 0
        assert facts[name]["winpatch_build"] == lab.hosts[name].build
    assert {name: (h.ubr, dict(h.pending_reboot)) for name, h in lab.hosts.items()} == before
    assert facts["pend"]["winpatch_state"] == "pending_reboot"
    assert facts["pend"]["winpatch_pending_reboot"]["any"] is True

    # The script ran once per read host, as one -EncodedCommand with {} on stdin.
    for name in ("cur", "old", "pend"):
        scripts = [i for i in lab.hosts[name].invocations if i.get("kind") == "script"]
        assert [(s["name"], s["params"]) for s in scripts] == [("build_facts", {})]

    # The same keys and values as the inventory plugin's host variables (the check time aside).
    listing, _stderr = inventory_list(write_config(tmp_path, lab.inventory))
    for name in ("cur", "old", "pend"):
        hostvars = listing["_meta"]["hostvars"][name]
        from_inventory = {k: _plain(v) for k, v in hostvars.items() if k.startswith("winpatch_") and k in facts[name]}
        assert set(from_inventory) == set(facts[name]), name
        for key in set(facts[name]) - {"winpatch_checked_at"}:
            assert from_inventory[key] == facts[name][key], (name, key)


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_garbage_and_bad_options_fail_the_task(
    lab_fleet: Callable[..., Any], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = lab_fleet(tiny(good={"release": "windows_11_24h2"}, junk={"release": "windows_11_24h2"}), allow_errors=True)
    from tests.lab import registry

    real = registry.find_handler("build_facts")
    assert real is not None
    monkeypatch.setitem(
        registry._HANDLERS, "build_facts", lambda host, params: "garbage" if host.name == "junk" else real(host, params)
    )
    proc, facts, recap = run_playbook(tmp_path, lab.inventory)
    assert recap["good"]["failed"] == 0 and "good" in facts
    assert recap["junk"]["failed"] == 1
    assert "Failed to decode the script result on junk: expected one JSON object" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr

    # A bad policy option fails every host before anything is sent.
    calls = len(lab.hosts["good"].invocations)
    bad = tmp_path / "bad"
    bad.mkdir()
    proc, _output, recap = run_playbook(bad, lab.inventory, extra='baseline: "2026-13"')
    assert recap["good"]["failed"] == 1
    assert "Failed to validate policy option baseline='2026-13'" in proc.stdout
    assert len(lab.hosts["good"].invocations) == calls


def test_connections_that_cannot_work_are_named(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny(a={"release": "windows_11_24h2"}))
    good = lab.host_vars("a")
    address = lab.hosts["a"].address
    inventory = tmp_path / "mixed.yml"
    hosts = {
        "a": good,
        # HTTPS against the HTTP listener: the port does not speak TLS, said as such.
        "tlsmix": {**good, "ansible_winrm_scheme": "https"},
        # Not a WinRM host at all: build_facts says what it needs before running anything.
        "localbox": {"ansible_connection": "local", "ansible_python_interpreter": "auto_silent"},
    }
    inventory.write_text(json.dumps({"lab": {"hosts": hosts}}), encoding="utf-8")
    proc, facts, recap = run_playbook(tmp_path, inventory)
    assert recap["a"]["failed"] == 0 and facts["a"]["winpatch_build"] == lab.hosts["a"].build, proc.stdout
    assert recap["tlsmix"]["unreachable"] == 1, proc.stdout
    out = " ".join(proc.stdout.split())
    assert (
        f"Failed to connect to tlsmix to read the build facts: TLS handshake failed with https://{address}:5985/wsman: "
        "port 5985 does not speak TLS (an HTTP listener?); check the host's scheme and port "
        "(WinRM listens for HTTP on 5985, HTTPS on 5986)"
    ) in out
    assert recap["localbox"]["failed"] == 1, proc.stdout
    assert (
        "Failed to read the build facts of localbox: build_facts needs a Windows host reached over winrm or psrp, "
        "but its connection is local"
    ) in out
    assert "powershell.exe" not in proc.stdout.lower()
