# SPDX-License-Identifier: GPL-3.0-or-later
"""WinRS shells and commands of one simulated host: Create, Command, Send, Receive, Signal, Delete.

A command runs (through the dispatcher) once its stdin is complete and the client first asks for
output. It runs in a worker thread so that Receive is a real long poll: it returns as soon as
output is there, or a ``w:TimedOut`` fault when the request's OperationTimeout runs out, exactly
what Windows does for a long-running command. Output is encoded in the shell's codepage (pywinrm
asks for 437, Ansible for 65001) and handed out in chunks that fit the client's MaxEnvelopeSize.
"""

from __future__ import annotations

import base64
import codecs
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.lab.wsman import soap

if TYPE_CHECKING:
    from tests.lab.host import SimHost

MAX_SHELLS_PER_USER = 30  # Windows' default MaxShellsPerUser
DEFAULT_IDLE_TIMEOUT = 7200.0  # Windows' default IdleTimeout for a shell
MAX_CHUNK = 65536  # raw output bytes per Receive reply at most


class DropConnection(Exception):
    """Close the client's connection without any reply (an injected fault)."""


@dataclass
class CommandResult:
    rc: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class Command:
    """One command in a shell, from Command to Signal."""

    command_id: str
    command: str
    arguments: list[str]
    console_mode_stdin: bool
    stdin: bytearray = field(default_factory=bytearray)
    stdin_done: bool = False
    started: bool = False
    done: bool = False
    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_sent: int = 0
    stderr_sent: int = 0
    receives: int = 0
    timeouts_fired: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def command_line(self) -> str:
        """Command and Arguments joined, the way cmd.exe would see them."""
        return " ".join([self.command, *self.arguments]).strip()


@dataclass
class Shell:
    shell_id: str
    owner: str
    client_ip: str
    codepage: int = 437
    working_directory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, Command] = field(default_factory=dict)  # by upper-case CommandId


Runner = Callable[[Shell, Command], CommandResult]


def _codec(codepage: int) -> str:
    if codepage == 65001:
        return "utf-8"
    try:
        return codecs.lookup(f"cp{codepage}").name
    except LookupError:
        return "utf-8"


class ShellService:
    """The WinRS service of one host. Thread-safe; one instance per SimHost."""

    def __init__(self, host: SimHost, runner: Runner, log: Callable[..., None] | None = None) -> None:
        self.host = host
        self._runner = runner
        self._log = log or (lambda *a, **k: None)
        self._lock = threading.Lock()
        self._shells: dict[str, Shell] = {}

    # --- lifecycle -------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every shell (a reboot): later requests for old ShellIds get fault 2150858843."""
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            for command in shell.commands.values():
                with command.cond:
                    command.cond.notify_all()

    @property
    def shell_count(self) -> int:
        with self._lock:
            return len(self._shells)

    # --- dispatch --------------------------------------------------------------------------------
    def handle(self, request: soap.SoapRequest, *, user: str, client_ip: str, address: str) -> tuple[str, str]:
        """Serve one request; returns (reply action, reply body XML). Raises WsmanFault or DropConnection."""
        action = request.action
        if action == soap.ACTION_CREATE:
            return action + "Response", self._create(request, user, client_ip, address)
        shell = self._shell(request.shell_id)
        shell.last_used = time.monotonic()
        if action == soap.ACTION_COMMAND:
            return action + "Response", self._command(request, shell)
        if action == soap.ACTION_SEND:
            return action + "Response", self._send(request, shell)
        if action == soap.ACTION_RECEIVE:
            return action + "Response", self._receive(request, shell)
        if action == soap.ACTION_SIGNAL:
            return action + "Response", self._signal(request, shell)
        if action == soap.ACTION_DELETE:
            with self._lock:
                self._shells.pop(shell.shell_id, None)
            return action + "Response", ""
        raise soap.bad_request_fault(f"the action {action!r} is not supported", subcode="a:ActionNotSupported")

    def _shell(self, shell_id: str | None) -> Shell:
        with self._lock:
            shell = self._shells.get((shell_id or "").upper())
        if shell is None:
            raise soap.shell_not_found_fault(shell_id)
        return shell

    def _create(self, request: soap.SoapRequest, user: str, client_ip: str, address: str) -> str:
        if request.resource_uri and request.resource_uri.lower() != soap.RESOURCE_CMD.lower():
            raise soap.bad_request_fault(
                f"the resource URI {request.resource_uri!r} is not served by the lab (only {soap.RESOURCE_CMD})",
                subcode="w:DestinationUnreachable",
            )
        spec = request.find("rsp:Shell")
        codepage_text = request.options.get("WINRS_CODEPAGE", "437")
        try:
            codepage = int(codepage_text)
        except ValueError:
            raise soap.bad_request_fault(f"invalid WINRS_CODEPAGE parameter {codepage_text!r}") from None
        shell = Shell(shell_id=soap.new_guid(), owner=user, client_ip=client_ip, codepage=codepage)
        if spec is not None:
            shell.working_directory = spec.findtext(f"{{{soap.NS_SHELL}}}WorkingDirectory")
            idle = spec.findtext(f"{{{soap.NS_SHELL}}}IdleTimeOut")
            if idle:
                shell.idle_timeout = soap.parse_duration(idle, DEFAULT_IDLE_TIMEOUT)
            for var in spec.findall(f"{{{soap.NS_SHELL}}}Environment/{{{soap.NS_SHELL}}}Variable"):
                if var.get("Name"):
                    shell.environment[var.get("Name", "")] = var.text or ""
        now = time.monotonic()
        limit = int(getattr(self.host, "max_shells_per_user", MAX_SHELLS_PER_USER))
        with self._lock:
            for sid in [s.shell_id for s in self._shells.values() if now - s.last_used > s.idle_timeout]:
                del self._shells[sid]
            owned = sum(1 for s in self._shells.values() if s.owner.lower() == user.lower())
            if owned >= limit:
                self._log("fault", fault="max_shells_per_user", user=user, limit=limit)
                raise soap.max_shells_fault(limit)
            self._shells[shell.shell_id] = shell
        return soap.create_response_body(shell.shell_id, address, user, client_ip, shell.idle_timeout)

    def _command(self, request: soap.SoapRequest, shell: Shell) -> str:
        line = request.find("rsp:CommandLine")
        if line is None:
            raise soap.bad_request_fault("the Command request has no rsp:CommandLine parameter")
        command = (line.findtext(f"{{{soap.NS_SHELL}}}Command") or "").strip()
        arguments = [(a.text or "") for a in line.findall(f"{{{soap.NS_SHELL}}}Arguments")]
        console = request.options.get("WINRS_CONSOLEMODE_STDIN", "TRUE").upper() != "FALSE"
        cmd = Command(
            command_id=soap.new_guid(),
            command=command,
            arguments=arguments,
            console_mode_stdin=console,
            stdin_done=console,
        )
        shell.commands[cmd.command_id] = cmd
        return soap.command_response_body(cmd.command_id)

    def _find_command(self, shell: Shell, command_id: str | None) -> Command:
        cmd = shell.commands.get((command_id or "").upper())
        if cmd is None:
            raise soap.bad_request_fault(f"the CommandId {command_id} is not a command of shell {shell.shell_id}")
        return cmd

    def _send(self, request: soap.SoapRequest, shell: Shell) -> str:
        streams = request.findall("rsp:Send/rsp:Stream")
        if not streams:
            raise soap.bad_request_fault("the Send request has no rsp:Stream parameter")
        for stream in streams:
            cmd = self._find_command(shell, stream.get("CommandId"))
            try:
                data = base64.b64decode(stream.text or "", validate=False)
            except ValueError as exc:
                raise soap.bad_request_fault(f"the stdin stream is not valid base64: {exc}") from None
            with cmd.cond:
                cmd.stdin += data
                if (stream.get("End") or "").lower() == "true":
                    cmd.stdin_done = True
                cmd.cond.notify_all()
        return "<rsp:SendResponse/>"

    def _start(self, shell: Shell, cmd: Command) -> None:
        """Start the command's worker if its stdin is complete (call with cmd.cond held)."""
        if cmd.started or not cmd.stdin_done:
            return
        cmd.started = True
        threading.Thread(target=self._execute, args=(shell, cmd), name=f"lab-cmd-{self.host.name}", daemon=True).start()

    def _execute(self, shell: Shell, cmd: Command) -> None:
        try:
            result = self._runner(shell, cmd)
        except Exception as exc:  # a lab bug must not hang the client: report it as a failed command
            self._log("error", event="runner_crash", error=f"{type(exc).__name__}: {exc}", command=cmd.command_line)
            result = CommandResult(rc=1, stderr=f"hygiene.winpatch lab internal error: {type(exc).__name__}: {exc}")
        codec = _codec(shell.codepage)
        stdout = result.stdout.encode(codec, errors="replace")
        stderr = result.stderr.encode(codec, errors="replace")
        with cmd.cond:
            cmd.stdout, cmd.stderr, cmd.exit_code, cmd.done = stdout, stderr, int(result.rc), True
            cmd.cond.notify_all()

    def _receive(self, request: soap.SoapRequest, shell: Shell) -> str:
        desired = request.find("rsp:Receive/rsp:DesiredStream")
        if desired is None:
            raise soap.bad_request_fault("the Receive request has no rsp:DesiredStream parameter")
        cmd = self._find_command(shell, desired.get("CommandId"))
        faults = self.host.faults
        deadline = time.monotonic() + request.operation_timeout
        with cmd.cond:
            cmd.receives += 1
            first = cmd.receives == 1
            self._start(shell, cmd)
        if first and faults.drop_during_command:
            self._log("fault", fault="drop_during_command", command=cmd.command_line[:200])
            raise DropConnection
        if cmd.timeouts_fired < int(faults.operation_timeout_storm):
            cmd.timeouts_fired += 1
            self._log("fault", fault="operation_timeout_storm", n=cmd.timeouts_fired)
            raise soap.operation_timeout_fault()
        budget = max(1024, min(MAX_CHUNK, (request.max_envelope_size - 4096) * 3 // 4))
        with cmd.cond:
            while True:
                if shell.commands.get(cmd.command_id) is not cmd:
                    raise soap.bad_request_fault(f"the command {cmd.command_id} was terminated")
                self._start(shell, cmd)
                pending = cmd.stdout_sent < len(cmd.stdout) or cmd.stderr_sent < len(cmd.stderr)
                if cmd.done or pending:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise soap.operation_timeout_fault()
                cmd.cond.wait(remaining)
            out = cmd.stdout[cmd.stdout_sent : cmd.stdout_sent + budget]
            cmd.stdout_sent += len(out)
            err = cmd.stderr[cmd.stderr_sent : cmd.stderr_sent + max(0, budget - len(out))]
            cmd.stderr_sent += len(err)
            finished = cmd.done and cmd.stdout_sent >= len(cmd.stdout) and cmd.stderr_sent >= len(cmd.stderr)
            exit_code = cmd.exit_code
        return soap.receive_response_body(
            cmd.command_id,
            base64.b64encode(out).decode("ascii"),
            base64.b64encode(err).decode("ascii"),
            finished,
            exit_code,
        )

    def _signal(self, request: soap.SoapRequest, shell: Shell) -> str:
        signal = request.find("rsp:Signal")
        if signal is None:
            raise soap.bad_request_fault("the Signal request has no rsp:Signal parameter")
        cmd = shell.commands.pop((signal.get("CommandId") or "").upper(), None)
        if cmd is not None:
            with cmd.cond:
                cmd.cond.notify_all()
        return "<rsp:SignalResponse/>"

    def snapshot(self) -> list[dict[str, Any]]:
        """Shells and their commands, for the control API and assertions."""
        with self._lock:
            return [
                {"shell_id": s.shell_id, "owner": s.owner, "codepage": s.codepage, "commands": len(s.commands)}
                for s in self._shells.values()
            ]
