# SPDX-License-Identifier: GPL-3.0-or-later
"""Lab benchmark: requests per second with pywinrm against one lab process and against several.

Not a test. For each lab layout (``--processes 1,2``) it starts a fleet in the background with the lab CLI, then
drives it from ``--clients`` client processes with ``--threads`` threads each, for ``--seconds`` per case (and at
most ``--max-requests`` requests), and prints the rates side by side:

- ``run_ps``: pywinrm ``Session.run_ps("hostname")``, a new connection and shell per request;
- ``build_facts``: the collection's ``build_facts`` script (command line + JSON on stdin), a new shell per request.

    python -m tests.bench.lab_bench --processes 1,2 --seconds 5 --transport basic

The client side is GIL-bound as well, so use several client processes; on a small shared machine the clients, not
the lab, are usually the limit (see ../shared/notes/winrm-lab.md, section 6).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import pathlib
import sys
import tempfile
import threading
import time
from typing import Any

import yaml

from tests.lab.cli import LabError, start_background, stop_background
from tests.lab.fleet import DEFAULT_PASSWORD, DEFAULT_USER
from tests.lab.octets import NoFreeOctet, claim_octet


def _client(addresses: list[str], mode: str, seconds: float, threads: int, transport: str, budget: int) -> dict:
    """One client process: ``threads`` threads, round-robin over the hosts, until time or budget runs out."""
    import winrm

    from tests.lab.scriptclient import protocol, run_script

    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0, "latency": 0.0, "first_error": None}

    def worker(offset: int) -> None:
        index = offset
        while time.monotonic() < deadline:
            with lock:
                if counts["ok"] + counts["failed"] >= budget:
                    return
            address = addresses[index % len(addresses)]
            index += threads
            begin = time.perf_counter()
            try:
                if mode == "run_ps":
                    session = winrm.Session(address, auth=(DEFAULT_USER, DEFAULT_PASSWORD), transport=transport)
                    result = session.run_ps("hostname")
                    ok = result.status_code == 0
                else:
                    rc, _result, _stderr = run_script(protocol(address, transport=transport), "build_facts")
                    ok = rc == 0
                error = None
            except Exception as exc:  # counted and reported; the benchmark goes on
                ok, error = False, f"{type(exc).__name__}: {exc}"
            with lock:
                counts["ok" if ok else "failed"] += 1
                counts["latency"] += time.perf_counter() - begin
                if error and counts["first_error"] is None:
                    counts["first_error"] = error

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts


def run_case(addresses: list[str], mode: str, args: argparse.Namespace) -> dict[str, Any]:
    budget = max(1, args.max_requests // args.clients)
    begin = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor(args.clients) as pool:
        futures = [
            pool.submit(_client, addresses[n::args.clients] or addresses, mode, args.seconds, args.threads,
                        args.transport, budget)
            for n in range(args.clients)
        ]  # fmt: skip
        results = [f.result() for f in futures]
    elapsed = time.monotonic() - begin
    ok = sum(r["ok"] for r in results)
    failed = sum(r["failed"] for r in results)
    latency = sum(r["latency"] for r in results) / max(1, ok + failed)
    error = next((r["first_error"] for r in results if r["first_error"]), None)
    return {"ok": ok, "failed": failed, "rate": ok / elapsed, "elapsed": elapsed, "latency": latency, "error": error}


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n\n", maxsplit=1)[0]
    parser = argparse.ArgumentParser(prog="python -m tests.bench.lab_bench", description=summary)
    parser.add_argument("--hosts", type=int, default=40, help="hosts in the fleet (default 40)")
    parser.add_argument("--processes", default="1,2", help="lab layouts to compare, e.g. 1,2,4 (default 1,2)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case (default 5)")
    parser.add_argument("--max-requests", type=int, default=5000, help="requests per case at most (default 5000)")
    parser.add_argument("--transport", choices=("basic", "ntlm"), default="basic")
    parser.add_argument("--modes", default="run_ps,build_facts", help="which cases (default run_ps,build_facts)")
    args = parser.parse_args(argv)
    layouts = [int(p) for p in args.processes.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    if not 1 <= args.hosts <= 245 or any(p < 1 or p > args.hosts for p in layouts):
        parser.error("--hosts must be 1-245 and every --processes value between 1 and --hosts")

    results: dict[tuple[str, int], dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        try:  # the octet is held until the benchmark ends (the pytest fixture uses the same locks)
            octet = stack.enter_context(claim_octet())
        except NoFreeOctet as exc:
            raise LabError(str(exc)) from exc
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="winpatch-lab-bench-"))
        fleet_file = pathlib.Path(work) / "bench.yml"
        fleet = {
            "name": "bench",
            "seed": 1,
            "defaults": {"transport": args.transport},
            "sites": [{"name": "bench", "subnet": f"127.{octet}.1.0/24", "count": args.hosts}],
            "releases": {"windows_11_24h2": 3, "windows_server_2022": 1},
        }
        fleet_file.write_text(yaml.safe_dump(fleet), encoding="utf-8")
        addresses = [f"127.{octet}.1.{10 + n}" for n in range(args.hosts)]
        for processes in layouts:
            state_dir = pathlib.Path(work) / f"lab-{processes}"
            state = start_background(fleet_file, state_dir, processes=processes)
            try:
                pids = [p["pid"] for p in state["processes"]]
                for mode in modes:
                    cpu_before = _cpu_seconds(pids)
                    results[(mode, processes)] = run_case(addresses, mode, args)
                    results[(mode, processes)]["lab_cpu"] = _cpu_seconds(pids) - cpu_before
            finally:
                stop_background(state_dir)

    print(
        f"\nlab benchmark: {args.hosts} hosts, {args.transport}/http, {args.clients} client processes x "
        f"{args.threads} threads, {args.seconds:g} s per case (at most {args.max_requests} requests)\n"
    )
    header = f"{'case':<14}" + "".join(f"{f'{p} lab process' + ('es' if p > 1 else ''):>34}" for p in layouts)
    print(header)
    for mode in modes:
        cells = []
        for processes in layouts:
            r = results[(mode, processes)]
            per_op = 1000 * r["lab_cpu"] / max(1, r["ok"] + r["failed"]) if r["lab_cpu"] is not None else float("nan")
            cells.append(f"{r['rate']:8.1f}/s {r['latency'] * 1000:6.1f} ms {per_op:5.1f} ms cpu")
        print(f"{mode:<14}" + "".join(f"{c:>34}" for c in cells))
    print("\n(rate of successful requests; mean client latency; lab CPU time per request)")
    # What the lab could serve if the clients were not the limit: each process is one GIL-bound core.
    for mode in modes:
        ceilings = []
        for processes in layouts:
            r = results[(mode, processes)]
            done = r["ok"] + r["failed"]
            if r["lab_cpu"]:
                ceilings.append(f"{processes} process(es) ~{processes * done / r['lab_cpu']:.0f}/s")
        if ceilings:
            print(f"lab ceiling from its CPU per request (one core per process), {mode}: " + ", ".join(ceilings))
    failures = [(k, r) for k, r in results.items() if r["failed"]]
    for (mode, processes), r in failures:
        print(f"{mode} with {processes} process(es): {r['failed']} failed; first error: {r['error']}")
    return 1 if failures else 0


def _cpu_seconds(pids: list[int]) -> float | None:
    """User+system CPU seconds of the lab processes (from /proc; None where unavailable)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
