# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a WinRS command (command line + stdin) into what the simulated Windows host answers.

Routing, in order:

1. **Ansible's exec wrapper** (stdin holds ``<bootstrap JSON>\\n\\0\\0\\0\\0\\n<manifest JSON>``): PowerShell
   modules are emulated by FQCN from ``tests/lab/modules`` (the module args come from the manifest),
   and the connection plugin's ``winrm_put_file.ps1`` / ``winrm_fetch_file.ps1`` act on ``SimHost.files``.
2. **The collection's own scripts**, recognised by their header line
   ``# hygiene.winpatch script: <name> v<version>``: the handler registered in ``tests/lab/registry.py``
   gets the JSON parameters from stdin; its result is printed as JSON (exit 0), a ``HandlerFailure``
   becomes ``{"failed": true, "msg", "code"}`` with exit 1.
3. **raw PowerShell** that ``ansible.windows.win_reboot`` sends (boot time as FileTime, the
   ``shutdown.exe /r /t N`` script, ``shutdown.exe /a``, the AutoLogonChecked test command) and a few
   trivially safe commands: ``Write-Output``/``echo`` of a literal, ``hostname``, ``$env:COMPUTERNAME``,
   ``$PSVersionTable.PSVersion.Major``, ``exit <n>``, ``Start-Sleep [-Seconds|-Milliseconds] <n>`` (up to 300 s,
   handy to test long polls).
4. **Anything else fails loudly**: exit 1, a CLIXML error on stderr as Windows PowerShell writes it,
   and a lab-log entry (level ``error`` in strict mode). Never a silent success.

The command line is Command and Arguments joined and tokenised case-insensitively; every
abbreviation of ``-EncodedCommand`` that PowerShell accepts (``-e``, ``-ec``, ``-en``, ``-enc``, ...)
is understood, for ``powershell``, ``powershell.exe``, a full path to it, or ``pwsh``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import TYPE_CHECKING, Any, Protocol
from xml.sax.saxutils import escape

from tests.lab import registry
from tests.lab.wsman.shells import CommandResult

if TYPE_CHECKING:
    from tests.lab.host import SimHost
    from tests.lab.wsman.shells import Shell

EXEC_WRAPPER_SEPARATOR = b"\n\0\0\0\0\n"
_ENCODED_FLAGS = {"-e", "-ec"} | {"-encodedcommand"[:n] for n in range(3, len("-encodedcommand") + 1)}
_COMMAND_FLAGS = {"-c", "-command"} | {"-command"[:n] for n in range(3, len("-command") + 1)}
_ANSIBLE_RC_SUFFIX = re.compile(
    r"[;\r\n]\s*If \(-not \$\?\) \{ If \(Get-Variable LASTEXITCODE -ErrorAction SilentlyContinue\) "
    r"\{ exit \$LASTEXITCODE \} Else \{ exit 1 \} \}\s*$",
    re.IGNORECASE,
)
_STRICT_PREFIX = re.compile(r"^\s*Set-StrictMode -Version Latest\s*[\r\n]+", re.IGNORECASE)
_SHUTDOWN_REBOOT = re.compile(r"shutdown(?:\.exe)?\s+/r\s+/t\s+(\d+)", re.IGNORECASE)
_SHUTDOWN_ABORT = re.compile(r"^(?:[a-z]:\\windows\\system32\\)?shutdown(?:\.exe)?\s+/a$", re.IGNORECASE)
_BOOT_TIME = re.compile(
    r"^\(Get-CimInstance -ClassName Win32_OperatingSystem -Property LastBootUpTime\)\.LastBootUpTime\.ToFileTime\(\)$",
    re.IGNORECASE,
)
_LOGON_TEST = re.compile(
    r"^Get-Item -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\AutoLogonChecked'"
    r" -ErrorAction Stop; '(?P<token>success-[0-9a-f-]+)'$",
    re.IGNORECASE,
)
_ECHO = re.compile(
    r"""^(?:Write-Output|echo|Write-Host)\s+(?:'(?P<sq>(?:[^']|'')*)'|"(?P<dq>[^"`$]*)"|(?P<bare>[^\s;|&$`'"(){}<>]+))$""",
    re.IGNORECASE,
)
_EXIT = re.compile(r"^exit\s+(?P<rc>-?\d+)$", re.IGNORECASE)
_SLEEP = re.compile(r"^Start-Sleep(?:\s+-(?P<unit>Seconds|Milliseconds|s|m))?\s+(?P<n>\d+(?:\.\d+)?)$", re.IGNORECASE)
MAX_SLEEP = 300.0


class LabContext(Protocol):
    """What the dispatcher needs from the running lab (LabServer implements it)."""

    strict: bool

    def record(self, event: str, host: SimHost | None, *, level: str = "info", **details: Any) -> dict[str, Any]: ...

    def schedule_reboot(self, host: SimHost, delay: float) -> bool: ...

    def abort_reboot(self, host: SimHost) -> bool: ...


# --- output helpers --------------------------------------------------------------------------------
def clixml_error(message: str) -> str:
    """stderr as Windows PowerShell writes an error record to a redirected stream (``#< CLIXML``)."""
    text = escape(message.rstrip("\r\n") + "\r\n").replace("\r", "_x000D_").replace("\n", "_x000A_")
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'<S S="Error">{text}</S></Objs>'
    )


def json_line(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), default=str) + "\r\n"


def _lines(text: str) -> str:
    return "".join(line + "\r\n" for line in text.splitlines()) if text else ""


# --- command-line decoding -------------------------------------------------------------------------
def decode_command_line(command: str, arguments: list[str] | tuple[str, ...] = ()) -> tuple[str, str | None]:
    """Return (executable, PowerShell script or None) from the WinRS Command + Arguments.

    Raises ValueError when an -EncodedCommand value is not base64 UTF-16LE.
    """
    tokens = " ".join([command, *arguments]).split()
    if not tokens:
        return "", None
    exe = tokens[0].strip('"').replace("/", "\\").rsplit("\\", 1)[-1].lower()
    exe = exe.removesuffix(".exe")
    if exe not in ("powershell", "pwsh"):
        return exe, None
    for index, token in enumerate(tokens[1:], start=1):
        flag = token.lower()
        if flag.startswith("--"):
            flag = flag[1:]
        if flag in _ENCODED_FLAGS and index + 1 < len(tokens):
            encoded = tokens[index + 1]
            try:
                raw = base64.b64decode(encoded, validate=True)
                return exe, raw.decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ValueError(f"the -EncodedCommand value is not base64 of UTF-16LE text: {exc}") from None
        if flag in _COMMAND_FLAGS and index + 1 < len(tokens):
            return exe, " ".join(tokens[index + 1 :])
    return exe, None


def normalise_script(script: str) -> str:
    """Strip what Ansible wraps around a raw script (StrictMode prefix, exit-code suffix) and the BOM."""
    script = script.lstrip("\ufeff")
    script = _STRICT_PREFIX.sub("", script, count=1)
    script = _ANSIBLE_RC_SUFFIX.sub("", script)
    return script.strip()


# --- entry point -----------------------------------------------------------------------------------
def run_command(
    host: SimHost,
    command: str,
    arguments: list[str] | tuple[str, ...],
    stdin: bytes,
    lab: LabContext,
    shell: Shell | None = None,
) -> CommandResult:
    """Run one WinRS command on ``host`` and return its exit code and output."""
    line = " ".join([command, *arguments]).strip()
    try:
        exe, script = decode_command_line(command, arguments)
    except ValueError as exc:
        return _unrecognised(host, lab, line, f"cannot decode the command line: {exc}")
    if script is None:
        return _run_cmd(host, lab, exe, line)
    if EXEC_WRAPPER_SEPARATOR in stdin:
        from tests.lab.modules import run_exec_wrapper

        return run_exec_wrapper(host, stdin, lab)
    body = normalise_script(script)
    name = registry.script_name(body)
    if name is None:
        match = registry.HEADER_RE.search(body)
        name = match.group("name") if match else None
    if name is not None:
        return _run_script(host, lab, name, stdin)
    return _run_raw(host, lab, body)


def _unrecognised(host: SimHost, lab: LabContext, what: str, reason: str) -> CommandResult:
    preview = what if len(what) <= 300 else what[:300] + "..."
    level = "error" if getattr(lab, "strict", True) else "warning"
    lab.record("unrecognised_command", host, level=level, reason=reason, command=preview)
    host.record("unrecognised", command=preview, reason=reason)
    message = (
        f"hygiene.winpatch lab: host {host.name} cannot run this command ({reason}). "
        f"Add a handler to the lab (see tests/lab/README.md). Command: {preview}"
    )
    return CommandResult(rc=1, stdout="", stderr=clixml_error(message))


def _run_cmd(host: SimHost, lab: LabContext, exe: str, line: str) -> CommandResult:
    """A cmd.exe-style command line (no PowerShell): only ``hostname`` and ``echo`` are served."""
    rest = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
    if exe == "cmd":
        parts = rest.split(None, 1)
        if parts and parts[0].lower() in ("/c", "/k") and len(parts) > 1:
            inner = parts[1].strip().strip('"')
            inner_exe = inner.split(None, 1)[0].lower() if inner else ""
            return _run_cmd(host, lab, inner_exe.removesuffix(".exe"), inner)
    if exe == "hostname" and not rest:
        host.record("raw", script=line)
        return CommandResult(rc=0, stdout=host.name + "\r\n")
    if exe == "echo" and rest and not any(c in rest for c in "&|<>^%"):
        host.record("raw", script=line)
        return CommandResult(rc=0, stdout=rest + "\r\n")
    return _unrecognised(host, lab, line, f"no handler for the executable {exe or '(empty)'!r}")


def _run_script(host: SimHost, lab: LabContext, name: str, stdin: bytes) -> CommandResult:
    handler = registry.find_handler(name)
    if handler is None:
        return _unrecognised(host, lab, f"# hygiene.winpatch script: {name}", f"no lab handler for script {name!r}")
    text = stdin.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    try:
        params = json.loads(text) if text else {}
        if not isinstance(params, dict):
            raise ValueError(f"expected a JSON object, got {type(params).__name__}")
    except ValueError as exc:
        failure = {"failed": True, "msg": f"Failed to read the parameters of script {name}: {exc}", "code": None}
        host.record("script", name=name, params=None, rc=1)
        return CommandResult(rc=1, stdout=json_line(failure))
    try:
        with host.lock:
            result = handler(host, params)
    except registry.HandlerFailure as exc:
        host.record("script", name=name, params=params, rc=1, msg=exc.msg)
        return CommandResult(rc=1, stdout=json_line({"failed": True, "msg": exc.msg, "code": exc.code}))
    except Exception as exc:
        lab.record("handler_crash", host, level="error", script=name, error=f"{type(exc).__name__}: {exc}")
        host.record("script", name=name, params=params, rc=1, crash=repr(exc))
        failure = {"failed": True, "msg": f"lab handler for {name} crashed: {type(exc).__name__}: {exc}", "code": None}
        return CommandResult(rc=1, stdout=json_line(failure))
    host.record("script", name=name, params=params, rc=0)
    return CommandResult(rc=0, stdout=json_line(result))


def _run_raw(host: SimHost, lab: LabContext, script: str) -> CommandResult:
    """The raw PowerShell commands the lab understands (win_reboot's four, and trivially safe ones)."""
    one_line = " ".join(script.split())
    if _BOOT_TIME.match(one_line):
        host.record("raw", script="boot_time")
        return CommandResult(rc=0, stdout=f"{host.boot_filetime}\r\n")
    reboot = _SHUTDOWN_REBOOT.search(script)
    if reboot and "ConvertTo-Json" in script:
        delay = int(reboot.group(1))
        if lab.schedule_reboot(host, delay):
            host.record("raw", script="shutdown /r", delay=delay)
            outcome = {"stdout": "", "stderr": "", "rc": 0}
        else:
            outcome = {"stdout": "", "stderr": "A system shutdown has already been scheduled.(1190)", "rc": 1190}
        return CommandResult(rc=0, stdout=json_line(outcome))
    if _SHUTDOWN_ABORT.match(one_line):
        if lab.abort_reboot(host):
            host.record("raw", script="shutdown /a")
            return CommandResult(rc=0)
        return CommandResult(
            rc=1116,
            stderr="Unable to abort the system shutdown because no shutdown was in progress.(1116)\r\n",
        )
    logon = _LOGON_TEST.match(one_line)
    if logon:
        host.record("raw", script="logon_test")
        return CommandResult(rc=0, stdout=f"{logon.group('token')}\r\n")
    echo = _ECHO.match(one_line)
    if echo:
        value = echo.group("sq")
        value = value.replace("''", "'") if value is not None else (echo.group("dq") or echo.group("bare") or "")
        host.record("raw", script=one_line)
        return CommandResult(rc=0, stdout=value + "\r\n")
    lowered = one_line.lower()
    if lowered in ("hostname", "$env:computername"):
        host.record("raw", script=one_line)
        return CommandResult(rc=0, stdout=host.name + "\r\n")
    if lowered == "$psversiontable.psversion.major":
        host.record("raw", script=one_line)
        return CommandResult(rc=0, stdout="5\r\n")
    sleep = _SLEEP.match(one_line)
    if sleep:
        seconds = float(sleep.group("n"))
        if (sleep.group("unit") or "s").lower().startswith("m"):
            seconds /= 1000.0
        if seconds <= MAX_SLEEP:
            host.record("raw", script=one_line)
            time.sleep(seconds)
            return CommandResult(rc=0)
    exit_match = _EXIT.match(one_line)
    if exit_match:
        host.record("raw", script=one_line)
        return CommandResult(rc=int(exit_match.group("rc")))
    return _unrecognised(host, lab, script, "no handler for this PowerShell script")
