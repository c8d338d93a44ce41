# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``history`` and ``report`` actions, and ``playbooks/assess.yml`` on inventory variables, through real
ansible-playbook runs on the controller.

The hosts' ``winpatch_*`` variables come from a static inventory, the way the compliance inventory plugin sets them;
nothing connects to a host, so no lab is needed here (the lab-backed runs belong to the end-to-end tests).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.tools.ansible_env import ansible_env

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ASSESS = REPO / "playbooks" / "assess.yml"

INVENTORY = {
    "all": {
        "hosts": {
            "web-01": {
                "winpatch_state": "current",
                "winpatch_release": "Windows Server 2022",
                "winpatch_release_id": "windows_server_2022",
                "winpatch_build": "10.0.20348.4171",
                "winpatch_expected_build": "10.0.20348.4171",
                "winpatch_months_behind": 0,
                "winpatch_site": "paris",
                "winpatch_ring": "pilot",
                "winpatch_catalog_date": "2026-09-08",
                "winpatch_catalog_stale": False,
                "winpatch_checked_at": "2026-12-03T10:00:05Z",
                "winpatch_missing_months": [],
            },
            "web-02": {
                "winpatch_state": "behind",
                "winpatch_release": "Windows Server 2022",
                "winpatch_build": "10.0.20348.3000",
                "winpatch_expected_build": "10.0.20348.4171",
                "winpatch_expected_kb": "KB5065432",
                "winpatch_months_behind": 4,
                "winpatch_site": "paris",
                "winpatch_ring": "broad",
                "winpatch_catalog_date": "2026-09-08",
                "winpatch_checked_at": "2026-12-03T10:00:00Z",
                "winpatch_missing_months": ["2026-06", "2026-07", "2026-08", "2026-09"],
            },
            "db-01": {
                "winpatch_state": "unreachable",
                "winpatch_reason": "Failed to connect to 127.0.9.9:5986: connection refused <b>",
                "winpatch_site": "lyon",
            },
            # In the inventory, but never assessed: must still land in the history.
            "db-02": {"winpatch_site": "lyon"},
        }
    }
}

PLAY = """
- name: Record and report
  hosts: all
  gather_facts: false
  tasks:
    - name: Append
      hygiene.winpatch.history:
        path: "{{ history }}"
        label: integration
        policy: {baseline: latest, grace_days: 14}
      delegate_to: localhost
      register: appended
    - name: Report
      hygiene.winpatch.report:
        history_path: "{{ history }}"
        dest: "{{ report }}"
      delegate_to: localhost
      register: rendered
    - name: Save the results
      ansible.builtin.copy:
        content: "{{ {'history': appended, 'report': rendered} | to_json }}"
        dest: "{{ results }}"
        mode: "0644"
      delegate_to: localhost
      run_once: true
"""


def _run(tmp_path: Path, playbook: str | Path, inventory: dict, *extra: str) -> subprocess.CompletedProcess[str]:
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    if isinstance(playbook, str):
        path = tmp_path / "play.yml"
        path.write_text(textwrap.dedent(playbook), encoding="utf-8")
    else:
        path = playbook
    env = ansible_env(
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inv), str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def _vars(tmp_path: Path) -> list[str]:
    return [
        "-e",
        f"history={tmp_path / 'h.sqlite'}",
        "-e",
        f"report={tmp_path / 'report'}",
        "-e",
        f"results={tmp_path / 'results.json'}",
    ]


def _rows(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT run_id, host, state, build, months_behind, reason, site, ring, details FROM assessments"
            " ORDER BY run_id, host"
        ).fetchall()
    finally:
        db.close()


def test_history_and_report_from_inventory_vars(tmp_path: Path) -> None:
    proc = _run(tmp_path, PLAY, INVENTORY, *_vars(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The actions bypass the host loop: one run for the four hosts, not one per host.
    # Three tasks, each reported for one host only (Append, Report, and the run_once copy).
    assert proc.stdout.count("-> localhost]") == 3, proc.stdout

    results = json.loads((tmp_path / "results.json").read_text())
    history, report = results["history"], results["report"]
    assert (history["run_id"], history["hosts"], history["compliant"], history["compliance_rate"]) == (1, 4, 1, 25.0)
    assert history["counts"] == {
        "current": 1,
        "grace": 0,
        "behind": 1,
        "pending_reboot": 0,
        "unsupported": 0,
        "unreachable": 1,
        "error": 1,
    }
    assert (history["catalog_date"], history["catalog_stale"]) == ("2026-09-08", False)
    assert history["started_at"] == "2026-12-03T10:00:00Z"  # the earliest checked_at

    rows = _rows(tmp_path / "h.sqlite")
    assert [r[:5] for r in rows] == [
        (1, "db-01", "unreachable", None, None),
        (1, "db-02", "error", None, None),
        (1, "web-01", "current", "10.0.20348.4171", 0),
        (1, "web-02", "behind", "10.0.20348.3000", 4),
    ]
    assert rows[0][5] == "Failed to connect to 127.0.9.9:5986: connection refused <b>"
    assert rows[1][5].startswith("not assessed: winpatch_state is not set")
    assert json.loads(rows[3][8]) == {"missing_months": ["2026-06", "2026-07", "2026-08", "2026-09"]}

    assert report["changed"] is True and report["run_id"] == 1
    assert report["paths"]["html"] == str(tmp_path / "report" / "report.html")
    html = (tmp_path / "report" / "report.html").read_text()
    assert "connection refused &lt;b&gt;" in html
    model = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [h["host"] for h in model["laggards"]] == ["web-02"]
    assert [(g["name"], g["hosts"], g["rate"]) for g in model["by_site"]] == [("lyon", 2, 0.0), ("paris", 2, 50.0)]

    # A second run appends (run 2) and changes the report; the first run's rows are untouched.
    proc = _run(tmp_path, PLAY, INVENTORY, *_vars(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = json.loads((tmp_path / "results.json").read_text())
    assert again["history"]["run_id"] == 2 and again["report"]["run_id"] == 2
    assert _rows(tmp_path / "h.sqlite")[:4] == rows


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    play = PLAY.replace("      register: rendered", "      register: rendered\n      when: false")
    proc = _run(tmp_path, play, INVENTORY, *_vars(tmp_path), "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "h.sqlite").exists()
    assert "changed: [db-01 -> localhost]" in proc.stdout


def test_bad_state_fails_naming_the_host_and_writes_nothing(tmp_path: Path) -> None:
    proc = _run(tmp_path, PLAY, INVENTORY, *_vars(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before = _rows(tmp_path / "h.sqlite")
    broken = json.loads(json.dumps(INVENTORY))
    broken["all"]["hosts"]["web-02"]["winpatch_state"] = "patched-probably"
    proc = _run(tmp_path, PLAY, broken, *_vars(tmp_path))
    assert proc.returncode != 0
    assert (
        "Failed to record host 'web-02': state must be one of current, grace, behind, pending_reboot, unsupported,"
        " unreachable, error, got 'patched-probably'"
    ) in proc.stdout
    assert _rows(tmp_path / "h.sqlite") == before


def test_foreign_file_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "h.sqlite").write_text("not a database\n")
    proc = _run(tmp_path, PLAY, INVENTORY, *_vars(tmp_path))
    assert proc.returncode != 0
    assert f"Failed to open the history {tmp_path / 'h.sqlite'}: the file is not a SQLite database" in proc.stdout
    assert (tmp_path / "h.sqlite").read_text() == "not a database\n"


@pytest.mark.skipif(
    not (REPO / "plugins" / "action" / "build_facts.py").exists(),
    reason="playbooks/assess.yml needs the hygiene.winpatch.build_facts action, not in this tree yet",
)
def test_assess_playbook_on_inventory_vars(tmp_path: Path) -> None:
    args = [
        "-e",
        f"winpatch_history_path={tmp_path / 'h.sqlite'}",
        "-e",
        f"winpatch_report_dir={tmp_path / 'report'}",
    ]
    # Settings from the inventory's group variables win over the playbook's defaults.
    inventory = json.loads(json.dumps(INVENTORY))
    inventory["all"]["vars"] = {"winpatch_assess_label": "from-group-vars", "winpatch_assess_policy": {"grace_days": 7}}
    # db-02 has no variables: with source=inventory it is not contacted and is recorded as error.
    proc = _run(tmp_path, ASSESS, inventory, *args, "-e", "winpatch_assess_source=inventory")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 hosts, 25.0 % compliant (current: 1, behind: 1, unreachable: 1, error: 1)" in proc.stdout
    assert f"report: {tmp_path / 'report' / 'report.html'}" in proc.stdout
    assert [r[2] for r in _rows(tmp_path / "h.sqlite")] == ["unreachable", "error", "current", "behind"]
    # db-02 was never contacted (source=inventory) and the inventory gives it no state: say so.
    assert _rows(tmp_path / "h.sqlite")[1][5] == (
        "not assessed: the host was not read (its build_facts task was skipped) and the inventory gives no "
        "winpatch_state for it"
    )
    model = json.loads((tmp_path / "report" / "report.json").read_text())
    assert model["summary"]["compliance_rate"] == 25.0
    assert model["run"]["label"] == "from-group-vars"
    assert model["run"]["policy"] == {
        "baseline": "latest",
        "grace_days": 7,
        "months_tolerated": 0,
        "hotpatch": "accept",
        "esu": False,
    }

    # Check mode: the headline is shown, nothing is appended.
    proc = _run(tmp_path, ASSESS, INVENTORY, *args, "-e", "winpatch_assess_source=inventory", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check mode: nothing written" in proc.stdout
    assert {r[0] for r in _rows(tmp_path / "h.sqlite")} == {1}


def test_assess_playbook_refuses_a_bad_source(tmp_path: Path) -> None:
    if not (REPO / "plugins" / "action" / "build_facts.py").exists():
        pytest.skip("playbooks/assess.yml needs the hygiene.winpatch.build_facts action, not in this tree yet")
    proc = _run(
        tmp_path,
        ASSESS,
        INVENTORY,
        "-e",
        "winpatch_assess_source=sometimes",
        "-e",
        f"winpatch_history_path={tmp_path / 'h.sqlite'}",
    )
    assert proc.returncode != 0
    assert "Failed to start the assessment: winpatch_assess_source must be auto, facts or inventory" in proc.stdout
    assert "(got sometimes)" in proc.stdout
    assert not (tmp_path / "h.sqlite").exists()


def test_bad_options_fail_clearly_and_write_nothing(tmp_path: Path) -> None:
    play = PLAY.replace("        label: integration", "        label: integration\n        started_at: yesterday-ish")
    proc = _run(tmp_path, play, INVENTORY, *_vars(tmp_path))
    assert proc.returncode != 0
    assert "Failed to append to the history: option 'started_at' must be an ISO 8601 time, got 'yesterday-ish'" in (
        proc.stdout
    )
    play = PLAY.replace("        label: integration", "        label: integration\n        catalog_date: '2026-13-45'")
    proc = _run(tmp_path, play, INVENTORY, *_vars(tmp_path))
    assert "option 'catalog_date' must be a date (YYYY-MM-DD), got '2026-13-45'" in proc.stdout
    assert not (tmp_path / "h.sqlite").exists()


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"baseline": "2026-13"},
            "Failed to validate policy option baseline='2026-13': expected 'latest' or a month in YYYY-MM form",
        ),
        (
            {"grace_day": 30},
            "Failed to read the policy: unknown option(s) grace_day; valid options are baseline, grace_days,"
            " months_tolerated, hotpatch, esu, as_of, catalog_path",
        ),
    ],
)
def test_assess_playbook_refuses_a_bad_policy_before_anything(tmp_path: Path, policy: dict, message: str) -> None:
    args = [
        "-e",
        f"winpatch_history_path={tmp_path / 'h.sqlite'}",
        "-e",
        f"winpatch_report_dir={tmp_path / 'report'}",
    ]
    proc = _run(tmp_path, ASSESS, INVENTORY, *args, "-e", "winpatch_assess_source=inventory")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before = _rows(tmp_path / "h.sqlite")
    report = {p.name: p.read_bytes() for p in (tmp_path / "report").iterdir()}
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "report").iterdir()}

    # source=facts would contact the hosts: the policy check must stop the play before that.
    bad = json.dumps({"winpatch_assess_policy": policy})
    proc = _run(tmp_path, ASSESS, INVENTORY, *args, "-e", "winpatch_assess_source=facts", "-e", bad)
    assert proc.returncode != 0
    assert message in proc.stdout
    assert "TASK [Read the build" not in proc.stdout
    assert "TASK [Append" not in proc.stdout
    assert _rows(tmp_path / "h.sqlite") == before
    assert {p.name: p.read_bytes() for p in (tmp_path / "report").iterdir()} == report
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "report").iterdir()} == mtimes


def test_history_action_refuses_a_bad_policy(tmp_path: Path) -> None:
    play = PLAY.replace("policy: {baseline: latest, grace_days: 14}", "policy: {baseline: latest, grace_day: 14}")
    proc = _run(tmp_path, play, INVENTORY, *_vars(tmp_path))
    assert proc.returncode != 0
    assert (
        "Failed to append to the history: option 'policy': Failed to read the policy: unknown option(s) grace_day;"
    ) in proc.stdout
    assert not (tmp_path / "h.sqlite").exists()


REPORT_PLAY = """
- name: Report only
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Report
      hygiene.winpatch.report:
        history_path: "{{ history }}"
        dest: "{{ report }}"
"""


def test_damaged_history_names_the_file_for_both_tasks(tmp_path: Path) -> None:
    proc = _run(tmp_path, PLAY, INVENTORY, *_vars(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    data[3000:3200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    expected = (
        f"Failed to open the history {path}: the file is damaged: it holds text that is not UTF-8 ('utf-8' codec "
        "can't decode byte 0xff in position 56: invalid start byte); restore it from a backup"
    )
    for play in (PLAY, REPORT_PLAY):
        proc = _run(tmp_path, play, INVENTORY, *_vars(tmp_path))
        assert proc.returncode != 0
        assert expected in proc.stdout, proc.stdout
        assert "Task failed: 'utf-8' codec" not in proc.stdout
        assert path.read_bytes() == bytes(data)


def test_report_on_a_foreign_database_words_it_for_reading(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.commit()
    db.close()
    proc = _run(tmp_path, REPORT_PLAY, INVENTORY, *_vars(tmp_path))
    assert proc.returncode != 0
    assert (
        f"Failed to open the history {path}: it is a SQLite database of another application (tables: invoices); "
        "refusing to read it as a hygiene.winpatch history"
    ) in proc.stdout
    assert not (tmp_path / "report").exists()
