# SPDX-License-Identifier: GPL-3.0-or-later
"""Emulations of what Ansible runs through its PowerShell exec wrapper on Windows.

Ansible sends every PowerShell module (and the winrm connection's file transfers) as
``bootstrap_wrapper.ps1`` with stdin ``<bootstrap JSON> SEP <exec manifest JSON> [SEP <input>]``, where SEP
is ``\\n\\0\\0\\0\\0\\n``.
The manifest's last action names what to run: ``module_wrapper.ps1`` (its ``Script`` parameter is the
module, e.g. ``ansible_collections.ansible.windows.plugins.modules.win_ping.ps1``, and the module args
are the ``complex_args`` variable), or ``winrm_put_file.ps1`` / ``winrm_fetch_file.ps1``.

Add a module with ``@module_handler("namespace.collection.name")`` in a module of this package and
import it below; the handler gets ``(host, args, ctx)`` and returns the module's result dict, or
raises ``ModuleFailure``. The lab adds ``invocation`` and ``changed`` (False unless the handler sets it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.lab.wsman.shells import CommandResult

if TYPE_CHECKING:
    from tests.lab.dispatch import LabContext
    from tests.lab.host import SimHost

SEPARATOR = b"\n\0\0\0\0\n"


class ModuleFailure(Exception):
    """The module fails the way the real one would (``failed: true``, rc 1)."""

    def __init__(self, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


@dataclass
class ModuleContext:
    """What a module emulation may look at besides its args."""

    check_mode: bool = False
    diff: bool = False
    verbosity: int = 0
    become_user: str | None = None
    is_async: bool = False
    internal: dict[str, Any] = field(default_factory=dict)  # the _ansible_* args


ModuleHandler = Callable[["SimHost", dict[str, Any], ModuleContext], dict[str, Any]]
_MODULES: dict[str, ModuleHandler] = {}


def module_handler(*names: str) -> Callable[[ModuleHandler], ModuleHandler]:
    """Register an emulation for the modules ``names`` (FQCNs)."""

    def register(func: ModuleHandler) -> ModuleHandler:
        for name in names:
            if name in _MODULES:
                raise ValueError(f"module emulation for {name!r} registered twice")
            _MODULES[name] = func
        return func

    return register


def find_module(fqcn: str) -> ModuleHandler | None:
    from tests.lab.modules import setup, win_ping  # noqa: F401 - registration

    return _MODULES.get(fqcn)


def module_fqcn(script: str) -> str:
    """``ansible_collections.ansible.windows.plugins.modules.win_ping.ps1`` -> ``ansible.windows.win_ping``."""
    name = script.removesuffix(".ps1")
    parts = name.split(".")
    if len(parts) >= 6 and parts[0] == "ansible_collections" and parts[3:5] == ["plugins", "modules"]:
        return ".".join([parts[1], parts[2], *parts[5:]])
    if name.startswith("ansible.modules."):  # ansible-core's own PowerShell modules (none today)
        return "ansible.builtin." + name.removeprefix("ansible.modules.")
    return name


def _failure(msg: str, rc: int = 1, **extra: Any) -> CommandResult:
    return CommandResult(rc=rc, stdout=json.dumps({"failed": True, "msg": msg, "changed": False, **extra}) + "\r\n")


def run_exec_wrapper(host: SimHost, stdin: bytes, lab: LabContext) -> CommandResult:
    """Run what an Ansible exec-wrapper payload asks for on ``host``."""
    from tests.lab.dispatch import _unrecognised

    sections = stdin.split(SEPARATOR, 2)
    try:
        manifest = json.loads(sections[1])
        actions = manifest["actions"]
        last = actions[-1]
        name, params = last["name"], last.get("params") or {}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return _unrecognised(host, lab, "ansible exec wrapper", f"malformed exec manifest: {exc!r}")
    extra = sections[2] if len(sections) > 2 else b""
    if name == "module_wrapper.ps1":
        return _run_module(host, lab, params, [a.get("name") for a in actions[:-1]])
    if name == "winrm_put_file.ps1":
        return _put_file(host, params, extra)
    if name == "winrm_fetch_file.ps1":
        return _fetch_file(host, params)
    return _unrecognised(host, lab, f"ansible exec wrapper action {name}", f"no lab emulation for {name}")


def _run_module(host: SimHost, lab: LabContext, params: dict[str, Any], wrappers: list[Any]) -> CommandResult:
    from tests.lab.dispatch import _unrecognised

    fqcn = module_fqcn(str(params.get("Script", "")))
    handler = find_module(fqcn)
    if handler is None:
        return _unrecognised(host, lab, f"ansible module {fqcn}", f"no lab emulation for the module {fqcn}")
    complex_args: dict[str, Any] = {}
    for variable in params.get("Variables") or []:
        if isinstance(variable, dict) and variable.get("Name") == "complex_args":
            complex_args = dict(variable.get("Value") or {})
    internal = {k: v for k, v in complex_args.items() if k.startswith("_ansible_")}
    args = {k: v for k, v in complex_args.items() if not k.startswith("_ansible_")}
    ctx = ModuleContext(
        check_mode=bool(internal.get("_ansible_check_mode")),
        diff=bool(internal.get("_ansible_diff")),
        verbosity=int(internal.get("_ansible_verbosity") or 0),
        is_async="async_wrapper.ps1" in wrappers,
        become_user=None,
        internal=internal,
    )
    try:
        with host.lock:
            result = handler(host, args, ctx)
    except ModuleFailure as exc:
        host.record("module", module=fqcn, args=args, failed=True)
        return _failure(exc.msg, invocation={"module_args": args}, **exc.extra)
    except Exception as exc:
        lab.record("handler_crash", host, level="error", module=fqcn, error=f"{type(exc).__name__}: {exc}")
        return _failure(f"lab emulation of {fqcn} crashed: {type(exc).__name__}: {exc}")
    host.record("module", module=fqcn, args=args, failed=bool(result.get("failed")))
    result = {"changed": False, **result, "invocation": {"module_args": args}}
    return CommandResult(rc=1 if result.get("failed") else 0, stdout=json.dumps(result, default=str) + "\r\n")


def _put_file(host: SimHost, params: dict[str, Any], data: bytes) -> CommandResult:
    path = str(params.get("Path") or "")
    try:
        content = b"".join(base64.b64decode(line) for line in data.split(b"\r\n") if line.strip())
    except (binascii.Error, ValueError) as exc:
        return CommandResult(rc=1, stderr=f"Exception calling FromBase64String: {exc}\r\n")
    with host.lock:
        host.files[path.lower()] = content
    host.record("put_file", path=path, size=len(content))
    return CommandResult(rc=0, stdout=json.dumps({"sha1": hashlib.sha1(content).hexdigest()}) + "\r\n")  # noqa: S324


def _fetch_file(host: SimHost, params: dict[str, Any]) -> CommandResult:
    path = str(params.get("Path") or "")
    key = path.lower()
    size = int(params.get("BufferSize") or 524288)
    offset = int(params.get("Offset") or 0)
    with host.lock:
        content = host.files.get(key)
        is_dir = content is None and any(k.startswith(key.rstrip("\\") + "\\") for k in host.files)
    host.record("fetch_file", path=path, offset=offset)
    if content is not None:
        chunk = content[offset : offset + size]
        return CommandResult(rc=0, stdout=(base64.b64encode(chunk).decode() + "\r\n") if chunk else "")
    if is_dir:
        return CommandResult(rc=0, stdout="[DIR]\r\n")
    return CommandResult(rc=1, stderr=f"{path} does not exist\r\n")
