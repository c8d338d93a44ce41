# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line of the lab: ``python -m tests.lab <command>``.

``start``      start a fleet in the background (one or more ``serve`` processes), wait until every host listens
``stop``       stop the fleet started from a state directory
``status``     show the processes of a running fleet and how many hosts each serves
``inventory``  write an Ansible inventory (ini or yaml) for a fleet, running or not
``serve``      run (a shard of) a fleet in the foreground until interrupted

The state directory holds ``state.json`` (pids, control URLs, the fleet and its options), one ``shard-<i>.log`` per
process, the TLS material and, once started, ``inventory.yml``. See ``tests/lab/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.lab.control import ControlClient, ControlError, ControlServer
from tests.lab.fleet import Fleet, FleetError, load_fleet

STATE_FILE = "state.json"
DEFAULT_START_TIMEOUT = 120.0


class LabError(Exception):
    """The lab could not be started, stopped or read; the message says why."""


# ---------------------------------------------------------------------------------------------------------------
# One lab process: a fleet (or a shard of it) behind a LabServer, plus its control API.


@dataclass
class LabProcess:
    """The servers of one lab process. ``start()`` raises LabError naming the address that is in use."""

    fleet: Fleet
    shard: tuple[int, int] = (0, 1)
    https: bool = False
    http_port: int = 5985
    https_port: int = 5986
    tls_dir: pathlib.Path | None = None
    log_path: pathlib.Path | None = None
    control_port: int = 0
    server: Any = None
    control: ControlServer | None = None
    tls: Any = None
    hosts: list[Any] = field(default_factory=list)

    def start(self) -> LabProcess:
        from tests.lab.wsman.server import LabBindError, LabServer

        self.hosts = self.fleet.shard(*self.shard)
        self.https = self.https or any(site.scheme == "https" for site in self.fleet.sites.values())
        if self.https:
            from tests.lab.wsman.tls import TlsMaterial

            if self.tls_dir is None:
                raise LabError("HTTPS needs a directory for the TLS material")
            self.tls = TlsMaterial.create(self.tls_dir, [h.address for h in self.hosts])
        self.server = LabServer(
            self.hosts,
            http_port=self.http_port,
            https_port=self.https_port if self.https else None,
            tls=self.tls,
            log_path=self.log_path,
        )
        try:
            self.server.start()
        except LabBindError as exc:
            with contextlib.suppress(Exception):
                self.server.stop()
            raise LabError(str(exc)) from None
        self.control = ControlServer(
            self.server.hosts,
            self.server.log,
            port=self.control_port,
            on_reboot=_reboot_hook(self.server),
            on_change=_change_hook(self.server),
        ).start()
        return self

    @property
    def ca_path(self) -> pathlib.Path | None:
        return self.tls.ca_path if self.tls is not None else None

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.server is not None:
            self.server.stop()
            self.server = None


def _reboot_hook(server: Any) -> Any:
    """The server's reboot: the host model's reboot plus dropping that host's connections and shells."""
    return server.reboot_host


def _change_hook(server: Any) -> Any:
    """After a control PATCH: new users/passwords must reach the NTLM credential file."""

    def changed(host: Any, fields: list[str]) -> None:
        if "users" in fields:
            server.refresh_credentials()

    return changed


# ---------------------------------------------------------------------------------------------------------------
# Background fleets: start / stop / status through a state directory


def read_state(state_dir: pathlib.Path) -> dict[str, Any]:
    path = pathlib.Path(state_dir) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabError(f"no lab state in {state_dir} (no {STATE_FILE}); start a fleet first") from None
    except (OSError, ValueError) as exc:
        raise LabError(f"Failed to read the lab state {path}: {exc}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def start_background(
    fleet_path: str | os.PathLike[str],
    state_dir: str | os.PathLike[str],
    *,
    processes: int = 1,
    https: bool = False,
    second_octet: int | None = None,
    http_port: int = 5985,
    https_port: int = 5986,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> dict[str, Any]:
    """Start ``processes`` serve processes for the fleet and wait until all listen; returns the state."""
    state_dir = pathlib.Path(state_dir).resolve()
    fleet_path = pathlib.Path(fleet_path).resolve()
    # Validate here first, so a malformed fleet file fails before any process starts.
    try:
        fleet = load_fleet(fleet_path, second_octet=second_octet, source=str(fleet_path))
    except FleetError as exc:
        raise LabError(str(exc)) from None
    https = https or any(site.scheme == "https" for site in fleet.sites.values())
    if processes < 1 or processes > max(1, len(fleet.hosts)):
        raise LabError(f"--processes must be between 1 and the number of hosts ({len(fleet.hosts)}), got {processes}")
    state_dir.mkdir(parents=True, exist_ok=True)
    if (state_dir / STATE_FILE).exists():
        old = read_state(state_dir)
        running = [p["pid"] for p in old.get("processes", []) if _alive(p["pid"])]
        if running:
            raise LabError(f"a lab is already running from {state_dir} (pids {running}); stop it first")
    for stale in state_dir.glob("shard-*.ready"):
        stale.unlink()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(_repo_root())) if p)
    children: list[tuple[int, subprocess.Popen[bytes], pathlib.Path]] = []
    for index in range(processes):
        ready = state_dir / f"shard-{index}.ready"
        command = [
            sys.executable,
            "-m",
            "tests.lab",
            "serve",
            "--fleet",
            str(fleet_path),
            "--shard",
            f"{index}/{processes}",
            "--ready-file",
            str(ready),
            "--http-port",
            str(http_port),
            "--https-port",
            str(https_port),
            "--log",
            str(state_dir / f"shard-{index}.jsonl"),
        ]
        if https:
            command += ["--https", "--tls-dir", str(state_dir / f"tls-{index}")]
        if second_octet is not None:
            command += ["--second-octet", str(second_octet)]
        with open(state_dir / f"shard-{index}.log", "wb") as out:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        children.append((index, child, ready))
    # Wait until every process reports ready or an error.
    deadline = time.monotonic() + timeout
    ready_info: dict[int, dict[str, Any]] = {}
    error = None
    while len(ready_info) < processes and error is None:
        for index, child, ready in children:
            if index in ready_info:
                continue
            if ready.exists():
                info = json.loads(ready.read_text(encoding="utf-8"))
                if info.get("error"):
                    error = info["error"]
                    break
                ready_info[index] = info
            elif child.poll() is not None:
                tail = (state_dir / f"shard-{index}.log").read_text(encoding="utf-8", errors="replace")[-2000:]
                error = f"lab process {index} exited with status {child.returncode}:\n{tail}"
                break
        else:
            if time.monotonic() > deadline:
                error = f"the lab did not start listening within {timeout:.0f} s (see {state_dir}/shard-*.log)"
            else:
                time.sleep(0.1)
    if error is not None:
        for _shard, child, _state in children:
            if child.poll() is None:
                child.terminate()
        for _shard, child, _state in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=10)
        raise LabError(error)
    ca_path = None
    if https:
        # one bundle with every process's CA, so clients trust the whole fleet with one file
        ca_path = state_dir / "lab-ca.pem"
        ca_path.write_text("".join(pathlib.Path(ready_info[i]["ca_path"]).read_text() for i in range(processes)))
    state = {
        "fleet": str(fleet_path),
        "name": fleet.name,
        "second_octet": second_octet,
        "https": https,
        "http_port": http_port,
        "https_port": https_port,
        "ca_path": str(ca_path) if ca_path else None,
        "hosts": len(fleet.hosts),
        "started": time.time(),
        "processes": [
            {"pid": children[i][1].pid, "control_url": ready_info[i]["control_url"], "hosts": ready_info[i]["hosts"]}
            for i in range(processes)
        ],
    }
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    inventory = (_https_fleet(fleet) if https else fleet).inventory_text("yaml", ca_path=ca_path)
    (state_dir / "inventory.yml").write_text(inventory, encoding="utf-8")
    state["inventory"] = str(state_dir / "inventory.yml")
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return state


def _https_fleet(fleet: Fleet) -> Fleet:
    """The same fleet with every site on HTTPS (what ``start --https`` advertises in its inventory)."""
    for site in fleet.sites.values():
        site.scheme = "https"
    return fleet


def stop_background(state_dir: str | os.PathLike[str], timeout: float = 20.0) -> list[int]:
    """Stop every process of the fleet started from ``state_dir``; returns the pids that were stopped.

    Idempotent: a state directory without a lab (or that does not exist) stops nothing."""
    state_dir = pathlib.Path(state_dir)
    if not (state_dir / STATE_FILE).exists():
        return []
    state = read_state(state_dir)
    pids = [p["pid"] for p in state.get("processes", []) if _alive(p["pid"])]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    state["processes"] = []
    state["stopped"] = time.time()
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return pids


def status(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    state = read_state(pathlib.Path(state_dir))
    rows = []
    for proc in state.get("processes", []):
        row = {**proc, "alive": _alive(proc["pid"])}
        if row["alive"]:
            try:
                row["health"] = ControlClient(proc["control_url"], timeout=3).health()[0]
            except ControlError as exc:
                row["health"] = {"error": str(exc)}
        rows.append(row)
    return {**state, "processes": rows, "running": bool(rows) and all(r["alive"] for r in rows)}


def control_client(state_dir: str | os.PathLike[str]) -> ControlClient:
    state = read_state(pathlib.Path(state_dir))
    if not state.get("processes"):
        raise LabError(f"the lab in {state_dir} is not running")
    return ControlClient([p["control_url"] for p in state["processes"]])


def _repo_root() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------------------------
# serve: the foreground process (also what ``start`` runs, once per shard)


def serve(args: argparse.Namespace) -> int:
    ready = pathlib.Path(args.ready_file) if args.ready_file else None

    def report(info: dict[str, Any]) -> None:
        if ready is not None:
            tmp = ready.with_suffix(".tmp")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            tmp.replace(ready)

    try:
        fleet = load_fleet(args.fleet, second_octet=args.second_octet)
        index, count = _parse_shard(args.shard)
        tls_dir = pathlib.Path(args.tls_dir) if args.tls_dir else None
        if args.https and tls_dir is None:
            tls_dir = pathlib.Path(args.state_dir or ".") / f"tls-{index}"
        lab = LabProcess(
            fleet,
            (index, count),
            https=args.https,
            http_port=args.http_port,
            https_port=args.https_port,
            tls_dir=tls_dir,
            log_path=pathlib.Path(args.log) if args.log else None,
            control_port=args.control_port,
        ).start()
    except (FleetError, LabError) as exc:
        report({"error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    assert lab.control is not None
    info = {
        "pid": os.getpid(),
        "control_url": lab.control.url,
        "hosts": len(lab.hosts),
        "ca_path": str(lab.ca_path) if lab.ca_path else None,
    }
    report(info)
    print(
        f"lab {fleet.name!r}: {len(lab.hosts)} hosts (shard {index + 1}/{count}) listening; "
        f"control API {lab.control.url}; Ctrl-C stops",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        lab.stop()
    return 0


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise LabError(f"--shard must look like 0/4, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise LabError(f"--shard {text}: no such shard")
    return index, count


# ---------------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="The hygiene.winpatch Windows lab.")
    sub = parser.add_subparsers(dest="command", required=True)

    def fleet_options(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("--fleet", required=required, help="fleet file (YAML), e.g. tests/lab/fleets/demo.yml")
        p.add_argument("--second-octet", type=int, help="move every site to 127.<N>.x.0/24")

    def port_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--https", action="store_true", help="also listen on HTTPS (lab CA in the state directory)")
        p.add_argument("--http-port", type=int, default=5985)
        p.add_argument("--https-port", type=int, default=5986)

    p = sub.add_parser("start", help="start a fleet in the background and wait until it listens")
    fleet_options(p)
    port_options(p)
    p.add_argument("--state-dir", required=True, help="where pid/state files, logs and the inventory go")
    p.add_argument("--processes", type=int, default=1, help="split the fleet across N processes")
    p.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT, help="seconds to wait for listening")

    p = sub.add_parser("stop", help="stop the fleet started from a state directory")
    p.add_argument("--state-dir", required=True)

    p = sub.add_parser("status", help="show the processes of a running fleet")
    p.add_argument("--state-dir", required=True)

    p = sub.add_parser("inventory", help="print an Ansible inventory for a fleet")
    fleet_options(p, required=False)
    p.add_argument("--state-dir", help="a running fleet (uses its fleet, octet, scheme and CA)")
    p.add_argument("--format", choices=("ini", "yaml"), default="yaml")
    p.add_argument("--https", action="store_true", help="advertise HTTPS (with --fleet)")
    p.add_argument("--output", "-o", help="write here instead of stdout")

    p = sub.add_parser("serve", help="run (a shard of) a fleet in the foreground")
    fleet_options(p)
    port_options(p)
    p.add_argument("--shard", default="0/1", help="which part of the fleet, as INDEX/COUNT")
    p.add_argument("--control-port", type=int, default=0, help="control API port on 127.0.0.1 (0: any free)")
    p.add_argument("--state-dir", help=argparse.SUPPRESS)
    p.add_argument("--tls-dir", help="where to write the lab CA and certificates (with --https)")
    p.add_argument("--ready-file", help=argparse.SUPPRESS)
    p.add_argument("--log", help="append the lab log here (JSON lines)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "start":
            state = start_background(
                args.fleet,
                args.state_dir,
                processes=args.processes,
                https=args.https,
                second_octet=args.second_octet,
                http_port=args.http_port,
                https_port=args.https_port,
                timeout=args.timeout,
            )
            print(
                f"lab {state['name']!r} started: {state['hosts']} hosts in {len(state['processes'])} process(es); "
                f"inventory {state['inventory']}"
            )
            for proc in state["processes"]:
                print(f"  pid {proc['pid']}: {proc['hosts']} hosts, control API {proc['control_url']}")
            return 0
        if args.command == "stop":
            pids = stop_background(args.state_dir)
            print(f"lab stopped ({len(pids)} process(es))" if pids else "no lab process was running")
            return 0
        if args.command == "status":
            info = status(args.state_dir)
            print(json.dumps(info, indent=2))
            return 0 if info["running"] else 3
        if args.command == "inventory":
            return _inventory(args)
    except (LabError, FleetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1


def _inventory(args: argparse.Namespace) -> int:
    ca_path = None
    https = args.https
    fleet_file, octet = args.fleet, args.second_octet
    if args.state_dir:
        state = read_state(pathlib.Path(args.state_dir))
        fleet_file = fleet_file or state["fleet"]
        octet = octet if octet is not None else state.get("second_octet")
        https = https or state.get("https", False)
        ca_path = state.get("ca_path")
    if not fleet_file:
        raise LabError("give --fleet or the --state-dir of a running fleet")
    fleet = load_fleet(fleet_file, second_octet=octet)
    if https:
        fleet = _https_fleet(fleet)
    text = fleet.inventory_text(args.format, ca_path=ca_path)
    if args.output:
        pathlib.Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
