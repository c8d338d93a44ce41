# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``hygiene.winpatch.assess`` filter (and ``build_tuple`` / ``release_id``) through a real ansible-playbook run.

The playbook runs on localhost only: a filter needs no Windows host. It reads a CMDB-style export (JSON, values as a
CMDB gives them: UBR as text, hex, lower-case keys), assesses every row and writes the results, which must equal what
the Python core returns for the same rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._compliance import assess
from tests.tools.ansible_env import ansible_env

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
AS_OF = "2026-02-20"

CMDB_ROWS = [
    {"name": "pc-0001", "CurrentBuild": "26100", "UBR": "7840", "InstallationType": "Client", "EditionID": "Enterprise",
     "ProductName": "Windows 10 Enterprise"},
    {"name": "pc-0002", "currentbuild": "26100", "ubr": "0x1d26", "installationtype": "Client",
     "editionid": "Professional"},
    {"name": "srv-0001", "CurrentBuild": "26100", "UBR": 7623, "InstallationType": "Server Core",
     "EditionID": "ServerStandard"},
    {"name": "srv-0002", "CurrentBuild": "26100", "UBR": 32370, "InstallationType": "Server",
     "EditionID": "ServerDatacenter"},
    {"name": "pc-0003", "CurrentBuild": "19045", "UBR": 6456, "InstallationType": "Client",
     "EditionID": "Professional"},
    {"name": "pc-0004", "CurrentBuild": "18363", "UBR": 720, "InstallationType": "Client",
     "EditionID": "Professional"},
    {"name": "pc-0005", "CurrentBuild": "26100", "UBR": "", "InstallationType": "Client"},
    {"name": "pc-0006", "CurrentBuild": "26100", "UBR": 7462, "InstallationType": "Client", "EditionID": "Enterprise",
     "pending_reboot": True},
]  # fmt: skip

EXPECTED_STATES = {
    "pc-0001": "current",  # Windows 11 24H2 at the 2026-02 B build, despite ProductName
    "pc-0002": "behind",  # 0x1d26 = 7462, the 2025-12 build: two months behind, past grace for 2026-01
    "srv-0001": "behind",  # a Server 2025 host at the client numbering of 2026-01: it has only 2025-12
    "srv-0002": "current",  # Server 2025's own 2026-02 numbering
    "pc-0003": "unsupported",  # Windows 10 22H2 after end of support without esu
    "pc-0004": "unsupported",  # Windows 10 1909, retired
    "pc-0005": "error",  # UBR missing
    "pc-0006": "pending_reboot",
}


def run_playbook(tmp_path: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent(playbook), encoding="utf-8")
    env = ansible_env(
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    # the controller's own Python runs the local tasks (copy), so no interpreter discovery
    interpreter = f"ansible_python_interpreter={sys.executable}"
    return subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", "-c", "local", "-e", interpreter, str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def cmdb_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("assess")
    (tmp_path / "cmdb.json").write_text(json.dumps(CMDB_ROWS), encoding="utf-8")
    out = tmp_path / "results.json"
    playbook = f"""\
        - name: Assess a CMDB export
          hosts: localhost
          gather_facts: false
          vars:
            cmdb_rows: "{{{{ lookup('ansible.builtin.file', 'cmdb.json') | from_json }}}}"
            oct_2025: "10.0.19045.6456"
            old_2021: "10.0.19045.999"
            no_ubr: {{CurrentBuild: '26100', InstallationType: Server Core}}
          tasks:
            - name: Assess every row
              ansible.builtin.set_fact:
                results: >-
                  {{{{ results | default({{}}) | combine({{item.name: item | hygiene.winpatch.assess(as_of='{AS_OF}',
                     grace_days=14)}}) }}}}
              loop: "{{{{ cmdb_rows }}}}"
              loop_control:
                label: "{{{{ item.name }}}}"

            - name: Builds compare as numbers, not strings
              ansible.builtin.assert:
                that:
                  - (oct_2025 | hygiene.winpatch.build_tuple) > (old_2021 | hygiene.winpatch.build_tuple)
                  - oct_2025 < old_2021  # as strings the order is wrong
                  - (cmdb_rows[1] | hygiene.winpatch.build_tuple) == [10, 0, 26100, 7462]
                  - (cmdb_rows[2] | hygiene.winpatch.release_id) == 'windows_server_2025'
                  - (cmdb_rows[0] | hygiene.winpatch.release_id) == 'windows_11_24h2'
                  - (cmdb_rows[5] | hygiene.winpatch.release_id) is none
                  - (no_ubr | hygiene.winpatch.release_id) == 'windows_server_2025'

            - name: Assess hosts whose values are odd (YAML values are tagged by ansible-core)
              ansible.builtin.set_fact:
                odd_results: "{{{{ odd_results | default({{}}) | combine({{item.key: item.value
                                   | hygiene.winpatch.assess(as_of='{AS_OF}')}}) }}}}"
              loop: "{{{{ odd_hosts | dict2items }}}}"
              loop_control:
                label: "{{{{ item.key }}}}"
              vars:
                odd_hosts:
                  unknown_build: {{CurrentBuild: '99999', UBR: 1}}
                  float_ubr: {{CurrentBuild: '26100', UBR: 7171.5, InstallationType: Client}}
                  server_numbering_on_client: {{CurrentBuild: '26100', UBR: 32370, InstallationType: Client}}

            - name: Write the odd results
              ansible.builtin.copy:
                content: "{{{{ odd_results | to_nice_json }}}}"
                dest: "{out.with_name("odd.json")}"
                mode: "0644"

            - name: Write the results
              ansible.builtin.copy:
                content: "{{{{ results | to_nice_json }}}}"
                dest: "{out}"
                mode: "0644"
        """
    proc = run_playbook(tmp_path, playbook)
    return proc, out


def test_playbook_assesses_a_cmdb_export(cmdb_run):
    proc, out = cmdb_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert {name: result["state"] for name, result in results.items()} == EXPECTED_STATES


def test_filter_returns_exactly_what_the_core_returns(cmdb_run):
    proc, out = cmdb_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    for row in CMDB_ROWS:
        assert results[row["name"]] == assess(row, as_of=AS_OF, grace_days=14), row["name"]


def test_result_fields_of_the_playbook_run(cmdb_run):
    out = cmdb_run[1]
    results = json.loads(out.read_text(encoding="utf-8"))
    pc = results["pc-0001"]
    assert (pc["release"], pc["release_id"], pc["build"]) == ("Windows 11 24H2", "windows_11_24h2", "10.0.26100.7840")
    assert (pc["expected_kb"], pc["expected_build"], pc["months_behind"]) == ("KB5077181", "10.0.26100.7840", 0)
    srv = results["srv-0001"]
    assert (srv["expected_kb"], srv["expected_build"], srv["months_behind"]) == ("KB5075899", "10.0.26100.32370", 2)
    assert results["pc-0005"]["reason"].startswith("Failed to identify the patch level: UBR is missing")
    for result in results.values():
        assert result["catalog_date"] and result["reason"]


def test_odd_host_values_give_whole_sentences(cmdb_run):
    proc, out = cmdb_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    odd = json.loads(out.with_name("odd.json").read_text(encoding="utf-8"))
    assert odd["unknown_build"]["state"] == "unsupported"
    assert odd["unknown_build"]["reason"] == (
        "Unknown Windows build 99999 (10.0.99999.1) cannot be assessed: build 99999 is an unknown build, "
        "not a Windows release hygiene.winpatch knows."
    )
    assert (odd["float_ubr"]["state"], odd["float_ubr"]["reason"]) == (
        "error",
        "Failed to read UBR: UBR must be a whole number such as 7171, got 7171.5.",
    )
    assert (odd["server_numbering_on_client"]["state"], odd["server_numbering_on_client"]["reason"]) == (
        "error",
        "Failed to identify the release: UBR 32370 is Windows Server 2025 numbering (26100.30000 and up since "
        "2026-01) but InstallationType is Client.",
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("grace_days=-1", "Failed to validate policy option grace_days=-1: must be >= 0"),
        ("baseline='2026-13'", "Failed to validate policy option baseline='2026-13': expected 'latest' or a month"),
        ("as_of='2999-01-01'", "Failed to validate policy option as_of='2999-01-01': the date is in the future"),
        ("catalog_path='missing.json'", "Failed to load the catalog missing.json"),
    ],
)
def test_bad_policy_fails_the_task_with_a_clear_message(tmp_path, policy, message):
    playbook = f"""\
        - name: Assess with a bad policy
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Assess
              ansible.builtin.debug:
                msg: "{{{{ {{'CurrentBuild': '26100', 'UBR': 7171, 'InstallationType': 'Client'}}
                          | hygiene.winpatch.assess({policy}) }}}}"
        """
    proc = run_playbook(tmp_path, playbook)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert message in output, output
    assert "Traceback" not in output
