# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the lab-server tests: one LabServer per module on this session's loopback octet.

Hosts live at ``127.<lab_octet>.241.<n>`` (the fleet fixtures use other third octets), so parallel
sessions by colleagues (each with its own second octet) never clash. Each test adds its own hosts
with ``new_host(...)`` so that faults set by one test never leak into another.
"""

from __future__ import annotations

import itertools
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import winrm

from tests.lab.host import SimHost
from tests.lab.wsman.server import LabServer
from tests.lab.wsman.tls import TlsMaterial
from tests.tools.ansible_env import ansible_env as base_ansible_env

REPO = pathlib.Path(__file__).resolve().parents[3]
PASSWORD = "Lab-Passw0rd!"
THIRD_OCTET = 241


@pytest.fixture(scope="module")
def wsman_lab(lab_octet: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A running LabServer (HTTP 5985 + HTTPS 5986) with no hosts; tests add theirs."""
    work = tmp_path_factory.mktemp("wsman")
    tls = TlsMaterial.create(work / "tls", [])
    lab = LabServer([], tls=tls, log_path=work / "lab-log.jsonl")
    lab.octet = lab_octet  # type: ignore[attr-defined]
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def _host_numbers() -> Iterator[int]:
    return itertools.count(10)


@pytest.fixture
def new_host(wsman_lab: LabServer, _host_numbers: Iterator[int]) -> Callable[..., SimHost]:
    """Factory: ``new_host(**SimHost fields)`` adds a fresh host (own address) to the running lab."""

    def make(**fields: Any) -> SimHost:
        number = next(_host_numbers)
        if number > 254:
            raise RuntimeError("the wsman test module ran out of host addresses")
        name = fields.pop("name", f"LAB-{number:04d}")
        host = SimHost(name=name, address=f"127.{wsman_lab.octet}.{THIRD_OCTET}.{number}", **fields)  # type: ignore[attr-defined]
        wsman_lab.add_host(host)
        return host

    return make


def endpoint(host: SimHost, scheme: str = "http") -> str:
    return f"{scheme}://{host.address}:{5985 if scheme == 'http' else 5986}/wsman"


def session(
    lab: LabServer, host: SimHost, transport: str = "ntlm", scheme: str = "http", **kwargs: Any
) -> winrm.Session:
    """An unmodified pywinrm Session with certificate validation on (trusting the lab CA)."""
    assert lab.tls is not None
    kwargs.setdefault("server_cert_validation", "validate")
    kwargs.setdefault("ca_trust_path", str(lab.tls.ca_path))
    auth = kwargs.pop("auth", ("winpatch", PASSWORD))
    return winrm.Session(endpoint(host, scheme), auth=auth, transport=transport, **kwargs)


def protocol(lab: LabServer, host: SimHost, transport: str = "ntlm", scheme: str = "http", **kwargs: Any) -> Any:
    """A pywinrm Protocol (shell-level API) with validation on."""
    assert lab.tls is not None
    kwargs.setdefault("server_cert_validation", "validate")
    kwargs.setdefault("ca_trust_path", str(lab.tls.ca_path))
    return winrm.protocol.Protocol(
        endpoint(host, scheme), transport=transport, username="winpatch", password=PASSWORD, **kwargs
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def log_entries(lab: LabServer, event: str, host: SimHost | None = None) -> list[dict[str, Any]]:
    return [e for e in list(lab.log) if e["event"] == event and (host is None or e["host"] == host.name)]


# --- ansible ---------------------------------------------------------------------------------------------------
def ansible_env(tmp_path: pathlib.Path) -> dict[str, str]:
    return base_ansible_env(
        ANSIBLE_HOST_KEY_CHECKING="false",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )


def write_inventory(
    tmp_path: pathlib.Path, lab: LabServer, hosts: list[SimHost], transport: str = "ntlm", scheme: str = "http"
) -> pathlib.Path:
    """An Ansible inventory (YAML) for ``hosts`` with ansible_connection=winrm and validation on."""
    assert lab.tls is not None
    lines = ["all:", "  hosts:"]
    for host in hosts:
        lines += [
            f"    {host.name}:",
            f"      ansible_host: {host.address}",
            f"      ansible_port: {5985 if scheme == 'http' else 5986}",
            "      ansible_user: winpatch",
            f"      ansible_password: '{PASSWORD}'",
            "      ansible_connection: winrm",
            f"      ansible_winrm_transport: {transport}",
            f"      ansible_winrm_scheme: {scheme}",
            "      ansible_winrm_server_cert_validation: validate",
            f"      ansible_winrm_ca_trust_path: {lab.tls.ca_path}",
        ]
    path = tmp_path / f"inventory-{scheme}-{transport}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_ansible(tmp_path: pathlib.Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    tool = pathlib.Path(sys.executable).parent / args[0]
    return subprocess.run(
        [str(tool), *args[1:]],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )
