# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures that start a lab fleet for a test and tear it down.

``lab_fleet(fleet, *, processes=1, https=False, second_octet=None, allow_errors=False)`` starts ``fleet`` (a file
in ``tests/lab/fleets`` by name, a path, or a mapping in the fleet-file format) and returns a :class:`RunningLab`:
its hosts, an inventory file, the CA path (HTTPS), a control client and, in-process, the ``LabServer`` itself.
With ``processes > 1`` the fleet runs in background processes through the lab CLI. Every lab is stopped when the
test ends; a lab that logged errors (unrecognised commands, crashes) fails the test unless ``allow_errors``.

Each pytest session (each xdist worker) takes its own second octet between 200 and 249, held with a lock file,
so parallel runs never share addresses (see ``octets.py``). ``WINPATCH_LAB_OCTET`` forces one.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.lab.cli import LabProcess, start_background, stop_background
from tests.lab.control import ControlClient
from tests.lab.fleet import Fleet, load_fleet
from tests.lab.octets import NoFreeOctet, claim_octet

FLEETS_DIR = pathlib.Path(__file__).resolve().parent / "fleets"


@dataclass
class RunningLab:
    """A started fleet, as a test sees it."""

    fleet: Fleet
    inventory: pathlib.Path
    control: ControlClient
    ca_path: pathlib.Path | None = None
    server: Any = None  # the in-process LabServer (None for multi-process labs)
    state_dir: pathlib.Path | None = None
    processes: int = 1
    allow_errors: bool = False
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def hosts(self) -> dict[str, Any]:
        """Name -> SimHost (in-process: the live objects the server uses; multi-process: as generated)."""
        if self.server is not None:
            return self.server.hosts
        return {h.name: h for h in self.fleet.hosts}

    def host_vars(self, name: str) -> dict[str, Any]:
        host = self.fleet.host(name)
        if host is None:
            raise KeyError(f"no host named {name!r} in fleet {self.fleet.name!r}")
        return self.fleet.host_vars(host, ca_path=self.ca_path)

    def errors(self) -> list[dict[str, Any]]:
        if self.server is not None:
            return self.server.errors()
        return [e for e in self.control.log() if e.get("level") == "error"]

    def stop(self) -> None:
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()


def _resolve(fleet: str | os.PathLike[str] | Mapping[str, Any]) -> str | pathlib.Path | Mapping[str, Any]:
    if isinstance(fleet, Mapping):
        return fleet
    path = pathlib.Path(fleet)
    if not path.exists() and (FLEETS_DIR / path).exists():
        return FLEETS_DIR / path
    if not path.suffix and (FLEETS_DIR / f"{path}.yml").exists():
        return FLEETS_DIR / f"{path}.yml"
    return path


@pytest.fixture(scope="session")
def lab_octet() -> Iterator[int]:
    """A second octet (200-249) nobody else on this machine uses for a lab right now."""
    forced = os.environ.get("WINPATCH_LAB_OCTET")
    if forced:
        yield int(forced)
        return
    with contextlib.ExitStack() as stack:
        try:
            octet = stack.enter_context(claim_octet())
        except NoFreeOctet as exc:
            pytest.fail(str(exc))
        yield octet


@pytest.fixture
def lab_fleet(lab_octet: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningLab]]:
    """Factory: ``lab = lab_fleet("small.yml")`` starts a fleet for this test (see the module docstring)."""
    started: list[RunningLab] = []

    def start(
        fleet: str | os.PathLike[str] | Mapping[str, Any],
        *,
        processes: int = 1,
        https: bool = False,
        second_octet: int | None = None,
        allow_errors: bool = False,
    ) -> RunningLab:
        octet = lab_octet if second_octet is None else second_octet
        work = tmp_path_factory.mktemp("lab")
        source = _resolve(fleet)
        if processes > 1:
            if isinstance(source, Mapping):
                import yaml

                path = work / "fleet.yml"
                path.write_text(yaml.safe_dump(dict(source)), encoding="utf-8")
                source = path
            state = start_background(source, work, processes=processes, https=https, second_octet=octet)
            loaded = load_fleet(source, second_octet=octet)
            lab = RunningLab(
                fleet=loaded,
                inventory=pathlib.Path(state["inventory"]),
                control=ControlClient([p["control_url"] for p in state["processes"]]),
                ca_path=pathlib.Path(state["ca_path"]) if state["ca_path"] else None,
                state_dir=work,
                processes=processes,
                _stop=lambda: stop_background(work),
            )
        else:
            loaded = load_fleet(source, second_octet=octet)
            process = LabProcess(loaded, https=https, tls_dir=work / "tls", log_path=work / "lab-log.jsonl").start()
            assert process.control is not None
            ca_path = process.ca_path
            fleet_for_inventory = loaded
            if process.https:
                for site in fleet_for_inventory.sites.values():
                    site.scheme = "https"
            inventory = work / "inventory.yml"
            inventory.write_text(fleet_for_inventory.inventory_text("yaml", ca_path=ca_path), encoding="utf-8")
            lab = RunningLab(
                fleet=loaded,
                inventory=inventory,
                control=ControlClient(process.control.url),
                ca_path=ca_path,
                server=process.server,
                state_dir=work,
                _stop=process.stop,
            )
        lab.allow_errors = allow_errors
        started.append(lab)
        return lab

    yield start
    problems = []
    for lab in reversed(started):
        errors = [] if lab.allow_errors else lab.errors()
        with contextlib.suppress(Exception):
            lab.stop()
        if errors:
            problems.append(f"lab {lab.fleet.name!r} logged errors: {errors[:5]}")
    if problems:
        pytest.fail("\n".join(problems))
