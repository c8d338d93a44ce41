# SPDX-License-Identifier: GPL-3.0-or-later
"""``playbooks/assess.yml`` against the lab's small fleet: build_facts over winrm, history and report.

Every host of the fleet must land in the history: the reachable ones with the state build_facts judged, the
down host and the host refusing the credentials as ``unreachable`` with their reason. Nothing may change on the
hosts (the lab counts every script invocation).
"""

from __future__ import annotations

import json
import pathlib
import sqlite3
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.regen_golden import AS_OF, ansible_bin, ansible_env

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]


def _golden_states() -> dict[str, str]:
    golden = json.loads((REPO / "tests" / "integration" / "golden" / "small_inventory.json").read_text())
    states = {}
    for host, hostvars in golden["_meta"]["hostvars"].items():
        value = hostvars["winpatch_state"]
        states[host] = value["__ansible_unsafe"] if isinstance(value, dict) else value
    return states


def _assess(tmp_path: pathlib.Path, inventory: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    policy = json.dumps({"winpatch_assess_policy": {"as_of": AS_OF}})
    return subprocess.run(
        [
            ansible_bin("ansible-playbook"),
            "-i",
            str(inventory),
            str(REPO / "playbooks" / "assess.yml"),
            "-f",
            "8",
            "-e",
            policy,
            "-e",
            f"winpatch_history_path={tmp_path / 'history.sqlite'}",
            "-e",
            f"winpatch_report_dir={tmp_path / 'report'}",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**ansible_env(), "ANSIBLE_LOCALHOST_WARNING": "false"},
        timeout=600,
        check=False,
    )


def test_assess_playbook_records_every_host(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet("small.yml")
    proc = _assess(tmp_path, lab.inventory, "-e", "winpatch_assess_source=facts")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    db = sqlite3.connect(tmp_path / "history.sqlite")
    rows = {
        host: (state, reason, site, ring)
        for host, state, reason, site, ring in db.execute("SELECT host, state, reason, site, ring FROM assessments")
    }
    db.close()
    assert set(rows) == set(lab.hosts)
    # The same states as the inventory plugin's golden sweep of this fleet on the same day.
    assert {host: row[0] for host, row in rows.items()} == _golden_states()
    assert lab.hosts["srv2019-down"].address in rows["srv2019-down"][1]
    assert rows["w11-auth-refused"][1]
    assert {row[2] for row in rows.values()} == {"lab"}
    assert rows["w11-current"][3] == "pilot" and rows["w11-behind"][3] == "broad"

    # Read-only: the hosts only ever ran the build_facts script.
    for name in lab.hosts:
        if name in ("srv2019-down", "w11-auth-refused"):
            continue
        scripts = [i["name"] for i in lab.control.invocations(name) if i["kind"] == "script"]
        assert scripts == ["build_facts"], (name, lab.control.invocations(name))

    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["hosts"] == len(lab.hosts)
    assert report["summary"]["counts"]["unreachable"] == 2
    assert sorted(h["host"] for h in report["unreachable"]) == ["srv2019-down", "w11-auth-refused"]
    assert f"report: {tmp_path / 'report' / 'report.html'}" in proc.stdout
