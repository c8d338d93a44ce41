# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one of the collection's scripts on a lab host with plain pywinrm, the way the collection sends it.

The command line is ``powershell.exe ... -EncodedCommand <script>`` (``_scripts.command_line``) and the parameters
go as one JSON document on stdin. When ``plugins/powershell/<name>.ps1`` does not exist yet, a header-only script is
sent instead: the lab dispatches on the header line, so the handler is exercised all the same.
Used by the lab's tests and by ``tests/bench/lab_bench.py``.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import winrm

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _scripts
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import ScriptError
from tests.lab.fleet import DEFAULT_PASSWORD, DEFAULT_USER


def script_command(name: str) -> tuple[str, list[str]]:
    """(executable, arguments) that run script ``name``."""
    try:
        line = _scripts.command_line(name)
    except ScriptError:
        header_only = f"# hygiene.winpatch script: {name} v1\n"
        encoded = base64.b64encode(header_only.encode("utf-16-le")).decode("ascii")
        line = f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {encoded}"
    exe, *args = line.split(" ")
    return exe, args


def protocol(
    address: str,
    *,
    user: str = DEFAULT_USER,
    password: str = DEFAULT_PASSWORD,
    transport: str = "ntlm",
    scheme: str = "http",
    port: int | None = None,
    ca_path: str | os.PathLike[str] | None = None,
    timeout: int = 30,
) -> winrm.protocol.Protocol:
    port = port or (5986 if scheme == "https" else 5985)
    return winrm.protocol.Protocol(
        f"{scheme}://{address}:{port}/wsman",
        transport=transport,
        username=user,
        password=password,
        server_cert_validation="validate" if scheme == "https" else "ignore",
        ca_trust_path=str(ca_path) if ca_path else "legacy_requests",
        read_timeout_sec=timeout,
        operation_timeout_sec=max(1, timeout - 10),
    )


def protocol_for(hostvars: dict[str, Any], timeout: int = 30) -> winrm.protocol.Protocol:
    """A pywinrm Protocol from a lab inventory's host variables."""
    return protocol(
        hostvars["ansible_host"],
        user=hostvars["ansible_user"],
        password=hostvars["ansible_password"],
        transport=hostvars["ansible_winrm_transport"],
        scheme=hostvars["ansible_winrm_scheme"],
        port=hostvars["ansible_port"],
        ca_path=hostvars.get("ansible_winrm_ca_trust_path"),
        timeout=timeout,
    )


def run_script(
    proto: winrm.protocol.Protocol, name: str, params: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """Run script ``name`` in a new shell: (rc, the JSON result or None, stderr text)."""
    exe, args = script_command(name)
    shell = proto.open_shell()
    try:
        command = proto.run_command(shell, exe, args)
        proto.send_command_input(shell, command, json.dumps(params or {}).encode(), end=True)
        stdout, stderr, rc = proto.get_command_output(shell, command)
        proto.cleanup_command(shell, command)
    finally:
        proto.close_shell(shell)
    text = stdout.decode("utf-8", "replace").strip()
    try:
        result = json.loads(text) if text else None
    except ValueError:
        result = None
    return rc, result, _scripts.clean_stderr(stderr)
