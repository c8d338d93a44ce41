# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the compliance inventory plugin against ``ansible -m raw -f 50`` on the same lab hosts.

Not a test (``make bench``). It starts ``--hosts`` lab hosts (default 1,000) in ``--processes`` lab processes with
the lab CLI, then, in the same run and against the same hosts:

1. sweeps them with the inventory plugin: ``ansible-inventory --list`` with a ``*.winpatch.yml`` config whose
   ``hosts_file`` is the lab's inventory; wall time and the peak RSS of that process are measured;
2. sends the same script (``build_facts.ps1``, as the plugin sends it) with
   ``ansible all -m ansible.builtin.raw -f 50``; wall time is measured.

It prints hosts/s for both, the plugin's peak memory, and as its last line ``sweep speedup vs ansible raw: N.Nx``.
Each run is bounded by ``--timeout`` seconds. ``--skip-raw`` measures the plugin alone (for a 10,000-host memory
run). The machine is shared: results vary with the load of the moment, so the command line and the load average
are printed with the figures.

    python -m tests.bench.sweep --hosts 1000 --processes 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import yaml

from tests.lab.octets import NoFreeOctet, claim_octet
from tests.tools.ansible_env import ansible_env as base_ansible_env

REPO = pathlib.Path(__file__).resolve().parents[2]
SITE_SIZE = 200  # hosts per /24 site (the lab allows 245)


def bench_fleet(hosts: int, transport: str) -> dict[str, Any]:
    """A fleet of ``hosts`` healthy hosts in /24 sites of at most SITE_SIZE, with realistic builds."""
    sites = []
    remaining, index = hosts, 0
    while remaining > 0:
        count = min(SITE_SIZE, remaining)
        sites.append({"name": f"s{index}", "subnet": f"127.10.{index + 1}.0/24", "count": count})
        remaining -= count
        index += 1
    return {
        "name": "bench",
        "seed": 4242,
        "defaults": {"transport": transport, "auth": ["basic", "ntlm"]},
        "releases": {"windows_11_24h2": 50, "windows_11_23h2": 15, "windows_server_2022": 20, "windows_10_22h2": 15},
        "builds": {"latest": 70, "1": 20, "3": 10},
        "sites": sites,
    }


def ansible_env() -> dict[str, str]:
    return base_ansible_env(
        ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_LOCALHOST_WARNING="false"
    )


def measured(command: list[str], output: pathlib.Path, timeout: float) -> tuple[float, int, int]:
    """Run ``command`` with stdout to ``output``; return (wall seconds, exit code, peak RSS in bytes)."""
    with open(output, "wb") as out, open(output.with_suffix(".err"), "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=ansible_env())
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def bin_path(name: str) -> str:
    candidate = pathlib.Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_plugin(work: pathlib.Path, inventory: str, args: argparse.Namespace) -> dict[str, Any]:
    config = work / "bench.winpatch.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "plugin": "hygiene.winpatch.compliance",
                "hosts_file": inventory,
                "workers": args.workers,
                "timeout": 60,
                "progress_every": 0,
            }
        ),
        encoding="utf-8",
    )
    output = work / "plugin.json"
    command = [bin_path("ansible-inventory"), "-i", str(config), "--list"]
    elapsed, rc, rss = measured(command, output, args.timeout)
    states: Counter[str] = Counter()
    if rc == 0:
        listing = json.loads(output.read_text(encoding="utf-8"))
        for hostvars in listing["_meta"]["hostvars"].values():
            state = hostvars.get("winpatch_state")
            states[state.get("__ansible_unsafe") if isinstance(state, dict) else str(state)] += 1
    return {"seconds": elapsed, "rc": rc, "rss": rss, "states": dict(states), "stderr": output.with_suffix(".err")}


def run_raw(work: pathlib.Path, inventory: str, args: argparse.Namespace) -> dict[str, Any]:
    from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _scripts

    script = _scripts.compact_script(_scripts.load_script("build_facts"))
    output = work / "raw.txt"
    command = [
        bin_path("ansible"),
        "all",
        "-i",
        inventory,
        "-m",
        "ansible.builtin.raw",
        "-a",
        script,
        "-f",
        str(args.forks),
        "-o",
    ]
    elapsed, rc, rss = measured(command, output, args.timeout)
    text = output.read_text(encoding="utf-8", errors="replace")
    ok = len(re.findall(r"^\S+ \| (?:CHANGED|SUCCESS) \|", text, re.M))
    return {"seconds": elapsed, "rc": rc, "rss": rss, "ok": ok, "stderr": output.with_suffix(".err")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="lab processes serving the hosts")
    parser.add_argument("--workers", type=int, default=32, help="the plugin's workers option")
    parser.add_argument("--forks", type=int, default=50, help="ansible -f for the raw run")
    parser.add_argument("--transport", choices=("ntlm", "basic"), default="ntlm")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for each of the two runs")
    parser.add_argument("--skip-raw", action="store_true", help="measure the plugin only")
    args = parser.parse_args(argv)

    from tests.lab.cli import start_background, stop_background

    with contextlib.ExitStack() as stack:
        work = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="winpatch-bench-")))
        try:  # held for the whole run
            octet = stack.enter_context(claim_octet())
        except NoFreeOctet as exc:
            raise SystemExit(str(exc)) from exc
        fleet = work / "bench.yml"
        fleet.write_text(yaml.safe_dump(bench_fleet(args.hosts, args.transport)), encoding="utf-8")
        print(f"starting {args.hosts} lab hosts in {args.processes} processes (127.{octet}.x.x, {args.transport})")
        started = time.monotonic()
        state = start_background(fleet, work / "lab", processes=args.processes, second_octet=octet)
        try:
            print(f"lab up in {time.monotonic() - started:.1f}s; load average {os.getloadavg()[0]:.2f}")
            plugin = run_plugin(work, state["inventory"], args)
            if plugin["rc"] != 0:
                print(pathlib.Path(plugin["stderr"]).read_text(encoding="utf-8", errors="replace")[-3000:])
                print(f"plugin sweep failed (rc {plugin['rc']})")
                return 1
            read = args.hosts - plugin["states"].get("unreachable", 0) - plugin["states"].get("error", 0)
            print(
                f"inventory plugin (workers={args.workers}): {args.hosts} hosts in {plugin['seconds']:.1f}s = "
                f"{args.hosts / plugin['seconds']:.1f} hosts/s; {read} read; states {plugin['states']}"
            )
            print(f"inventory plugin peak memory (ansible-inventory RSS): {plugin['rss'] / 2**20:.0f} MiB")
            if args.skip_raw:
                return 0
            raw = run_raw(work, state["inventory"], args)
            print(
                f"ansible -m raw -f {args.forks}: {args.hosts} hosts in {raw['seconds']:.1f}s = "
                f"{args.hosts / raw['seconds']:.1f} hosts/s; {raw['ok']} ok (rc {raw['rc']}); "
                f"peak RSS of the controller process {raw['rss'] / 2**20:.0f} MiB"
            )
            if raw["ok"] < args.hosts:
                print(pathlib.Path(raw["stderr"]).read_text(encoding="utf-8", errors="replace")[-2000:])
            print(f"load average after both runs {os.getloadavg()[0]:.2f}")
            print(f"sweep speedup vs ansible raw: {raw['seconds'] / plugin['seconds']:.1f}x")
        finally:
            stop_background(work / "lab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
