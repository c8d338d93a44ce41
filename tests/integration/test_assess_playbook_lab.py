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

from tests.integration.regen_golden import AS_OF, ansible_bin, ansible_env, write_config

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]


def _golden_states() -> dict[str, str]:
    golden = json.loads((REPO / "tests" / "integration" / "golden" / "small_inventory.json").read_text())
    states = {}
    for host, hostvars in golden["_meta"]["hostvars"].items():
        value = hostvars["winpatch_state"]
        states[host] = value["__ansible_unsafe"] if isinstance(value, dict) else value
    return states


DEFAULT_EXTRA = "default"


def _assess(
    tmp_path: pathlib.Path, inventory: pathlib.Path, *args: str, policy: dict[str, Any] | str | None = DEFAULT_EXTRA
) -> subprocess.CompletedProcess[str]:
    """Run the assess playbook; ``policy`` is the extra vars (default: the pinned as_of), None for none."""
    if policy == DEFAULT_EXTRA:
        policy = {"winpatch_assess_policy": {"as_of": AS_OF}}
    return subprocess.run(
        [
            ansible_bin("ansible-playbook"),
            "-i",
            str(inventory),
            str(REPO / "playbooks" / "assess.yml"),
            "-f",
            "8",
            *(["-e", json.dumps(policy)] if policy is not None else []),
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


PLUGIN_POLICY = {"as_of": "2026-08-28", "months_tolerated": 3, "grace_days": 5}


def _runs(history: pathlib.Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(history)
    try:
        return [json.loads(policy) for (policy,) in db.execute("SELECT policy FROM runs ORDER BY run_id")]
    finally:
        db.close()


def test_history_records_the_inventory_plugins_policy(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    """Hosts judged by the inventory plugin: the run stores the plugin's policy, not the playbook's defaults."""
    lab = lab_fleet("small.yml")
    config = write_config(tmp_path, lab.inventory, workers=8, timeout=20, **PLUGIN_POLICY)
    pol = config.rename(tmp_path / "pol.winpatch.yml")
    proc = _assess(tmp_path, pol, policy=None)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    expected = {"baseline": "latest", "hotpatch": "accept", "esu": False, **PLUGIN_POLICY}
    assert _runs(tmp_path / "history.sqlite") == [expected]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["run"]["policy"] == expected
    assert "judged with baseline latest as of 2026-08-28, grace 5 days, months tolerated 3;" in proc.stdout
    shown = report["policy"]
    assert (shown["as_of"], shown["as_of_source"], shown["grace_days"], shown["months_tolerated"]) == (
        "2026-08-28",
        "policy",
        5,
        3,
    )
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'as of <b id="policy-as-of">2026-08-28</b>' in html and "months tolerated <b>3</b>" in html
    # Nothing was read again: the plugin's sweep is the only script run on each host.
    scripts = [i["name"] for i in lab.control.invocations("w11-current") if i["kind"] == "script"]
    assert scripts == ["build_facts"]


def test_hosts_judged_with_different_policies_fail_and_write_nothing(
    lab_fleet: Callable[..., Any], tmp_path: pathlib.Path
) -> None:
    """One host from the plugin (its policy), the others read by the playbook (another): the run fails clearly."""
    lab = lab_fleet("small.yml")
    one = tmp_path / "one.yml"
    one.write_text(
        "all:\n  hosts:\n    w11-current:\n"
        + "".join(f"      {k}: {json.dumps(v)}\n" for k, v in lab.host_vars("w11-current").items()),
        encoding="utf-8",
    )
    config = write_config(tmp_path, one, timeout=20, **PLUGIN_POLICY)
    proc = _assess(tmp_path, lab.inventory, "-i", str(config), "--limit", "w11-current,w11-behind")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert (
        "Failed to append to the history: the hosts were judged with different policies - "
        "as_of 2026-08-28, grace_days 5, months_tolerated 3 (w11-current); "
        f"as_of {AS_OF}, grace_days 14, months_tolerated 0 (w11-behind). A run records one policy"
    ) in " ".join(out.split())
    assert not (tmp_path / "history.sqlite").exists() or _runs(tmp_path / "history.sqlite") == []


def test_a_policy_that_is_no_mapping_is_named_alone(tmp_path: pathlib.Path) -> None:
    inventory = tmp_path / "local.ini"
    inventory.write_text("localhost ansible_connection=local\n", encoding="utf-8")
    proc = _assess(tmp_path, inventory, policy={"winpatch_assess_policy": "baseline=2026-08"})
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "Failed to start the assessment: winpatch_assess_policy must be a mapping (got baseline=2026-08)" in out
    assert "winpatch_assess_source must be" not in out
    assert not (tmp_path / "history.sqlite").exists()
