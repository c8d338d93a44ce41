# SPDX-License-Identifier: GPL-3.0-or-later
"""`make demo`: start the lab's demo fleet, sweep it, run the assess playbook, show the report.

Every step runs the real command-line tools (the lab CLI, ansible-inventory, ansible-playbook), the
same way a user would against a real inventory. Running it again stops the previous demo lab first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".build" / "demo"
LAB_STATE = WORK / "lab"
FLEET = REPO / "tests" / "lab" / "fleets" / "demo.yml"
BIN = Path(sys.executable).parent
DEMO_AS_OF = "2026-05-20"


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run(*args: str | Path, capture: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in args]
    return subprocess.run(cmd, cwd=REPO, check=True, text=True, capture_output=capture)


def lab(*args: str | Path, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "tests.lab", *args, capture=capture)


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)

    # A previous run may have left its lab up (an interrupted demo); stop it so addresses are free.
    step("Stopping any previous demo lab")
    lab("stop", "--state-dir", LAB_STATE)

    step(f"Starting the lab's demo fleet ({FLEET.relative_to(REPO)})")
    lab("start", "--fleet", FLEET, "--state-dir", LAB_STATE, "--processes", "2")
    try:
        hosts_file = WORK / "lab_hosts.yml"
        hosts_file.write_text(lab("inventory", "--state-dir", LAB_STATE, "--format", "yaml", capture=True).stdout)
        config = WORK / "demo.winpatch.yml"
        config.write_text(
            "# Written by `make demo`: sweep the lab hosts listed in lab_hosts.yml.\n"
            "plugin: hygiene.winpatch.compliance\n"
            f"hosts_file: {hosts_file}\n"
            "workers: 32\n"
            "# The demo fleet lives in May 2026 (tests/lab/fleets/demo.yml), so judge it as of that month. Against\n"
            "# today's date the shipped catalog (data ends 2026-09) is stale, and every result would say so.\n"
            f"as_of: '{DEMO_AS_OF}'\n"
            "# Cache the sweep so the assess playbook below reuses it instead of sweeping again.\n"
            "cache: true\n"
            "cache_plugin: ansible.builtin.jsonfile\n"
            f"cache_connection: {WORK / 'inventory_cache'}\n"
            "cache_timeout: 600\n"
        )
        shutil.rmtree(WORK / "inventory_cache", ignore_errors=True)

        step("Sweeping the fleet with the hygiene.winpatch.compliance inventory plugin")
        graph = run(BIN / "ansible-inventory", "-i", config, "--graph", capture=True).stdout
        summarise_graph(graph)

        step("Running playbooks/assess.yml (read-only: history + report)")
        playbook(
            BIN / "ansible-playbook", "-i", config, REPO / "playbooks" / "assess.yml",
            "-e", f"winpatch_history_path={WORK / 'history.sqlite'}",
            "-e", f"winpatch_report_dir={WORK / 'report'}",
            "-e", json.dumps({"winpatch_assess_policy": {"as_of": DEMO_AS_OF}}),
        )  # fmt: skip

        step("Report")
        print_headline(WORK / "report")
    finally:
        step("Stopping the demo lab")
        lab("stop", "--state-dir", LAB_STATE)
    return 0


def playbook(*args: str | Path) -> None:
    """Run ansible-playbook, showing its tasks but the PLAY RECAP as totals rather than one line per host."""
    env = {**os.environ, "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"}
    log = WORK / "assess.log"
    totals: dict[str, int] = {}
    with (
        log.open("w") as out,
        subprocess.Popen(
            [str(a) for a in args], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ) as proc,
    ):
        assert proc.stdout is not None
        in_recap = False
        for line in proc.stdout:
            out.write(line)
            in_recap = in_recap or line.startswith("PLAY RECAP")
            if not in_recap:
                print(line, end="", flush=True)
            for key, value in re.findall(r"(\w+)=(\d+)", line if in_recap else ""):
                totals[key] = totals.get(key, 0) + int(value)
    print("PLAY RECAP (all hosts): " + "  ".join(f"{k}={v}" for k, v in totals.items()))
    print(f"full output: {log}")
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, [str(a) for a in args])


def summarise_graph(graph: str) -> None:
    """Print the winpatch_* groups with their host counts, not hundreds of host lines."""
    counts: dict[str, int] = {}
    group = None
    for line in graph.splitlines():
        match = re.search(r"--(@?)([^:]+):?$", line) or re.match(r"^(@)([^:]+):$", line)
        if not match:
            continue
        if match.group(1):
            group = match.group(2)
            counts.setdefault(group, 0)
        elif group:
            counts[group] += 1
    for name, count in counts.items():
        if name.startswith("winpatch_"):
            print(f"  @{name}: {count} hosts")


def print_headline(report_dir: Path) -> None:
    summary = json.loads((report_dir / "report.json").read_text())
    headline = summary.get("summary", summary)
    print(f"  dashboard: {report_dir / 'report.html'}")
    print(f"  csv:       {report_dir / 'report.csv'}")
    print(f"  json:      {report_dir / 'report.json'}")
    for key in ("hosts", "compliance_rate", "counts", "catalog_date", "catalog_stale"):
        if key in headline:
            print(f"  {key}: {headline[key]}")


def environment() -> None:
    """What `make` exports: the collection (and ansible.windows) from .build/collections, the lab from the repo."""
    collections = REPO / ".build" / "collections"
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(collections))
    os.environ.setdefault("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(collections), str(REPO), *paths]))


if __name__ == "__main__":
    environment()
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(
            f"\nmake demo failed: {' '.join(map(str, exc.cmd))} exited with status {exc.returncode} (output above)"
        )
