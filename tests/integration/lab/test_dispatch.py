# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's command dispatcher without a network: command-line decoding and routing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.lab import dispatch
from tests.lab.host import SimHost


def b64(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


class FakeLab:
    """Records what the dispatcher asks of the lab (the real LabServer is exercised in test_wsman.py)."""

    strict = True

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.reboots: list[float] = []

    def record(self, event: str, host: SimHost | None, *, level: str = "info", **details: Any) -> dict[str, Any]:
        entry = {"event": event, "level": level, **details}
        self.entries.append(entry)
        return entry

    def schedule_reboot(self, host: SimHost, delay: float) -> bool:
        if self.reboots:
            return False
        self.reboots.append(delay)
        return True

    def abort_reboot(self, host: SimHost) -> bool:
        had = bool(self.reboots)
        self.reboots.clear()
        return had


@pytest.mark.parametrize(
    ("command", "arguments"),
    [
        ("powershell -encodedcommand {}", []),  # pywinrm run_ps
        ("powershell", ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted", "-EncodedCommand", "{}"]),
        ("PowerShell", ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted", "-EncodedCommand", "{}"]),
        ("PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {}", []),
        (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -e {}", []),
        ("pwsh -EC {}", []),
        ("powershell -ENC {}", []),
        ("powershell --EncodedCommand {}", []),
    ],
)
def test_decode_command_line_shapes(command: str, arguments: list[str]) -> None:
    script = "Write-Output 'x y'"
    command = command.format(b64(script))
    arguments = [a.format(b64(script)) for a in arguments]
    exe, decoded = dispatch.decode_command_line(command, arguments)
    assert exe in ("powershell", "pwsh")
    assert decoded == script


def test_execution_policy_is_not_mistaken_for_encoded_command() -> None:
    exe, script = dispatch.decode_command_line("powershell -ExecutionPolicy Bypass -Command Write-Output hi")
    assert (exe, script) == ("powershell", "Write-Output hi")
    assert dispatch.decode_command_line("powershell -ExecutionPolicy Bypass") == ("powershell", None)


def test_bad_base64_is_unrecognised_not_a_crash() -> None:
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()
    result = dispatch.run_command(host, "powershell -EncodedCommand !!notbase64!!", [], b"", lab)
    assert result.rc == 1
    assert result.stderr.startswith("#< CLIXML\r\n")
    assert lab.entries[0]["event"] == "unrecognised_command"
    assert "cannot decode the command line" in lab.entries[0]["reason"]


def test_ansible_raw_wrapping_is_stripped() -> None:
    wrapped = (
        "Set-StrictMode -Version Latest\r\nWrite-Output hi\r\nIf (-not $?) { If (Get-Variable LASTEXITCODE "
        "-ErrorAction SilentlyContinue) { exit $LASTEXITCODE } Else { exit 1 } }\r\n"
    )
    assert dispatch.normalise_script(wrapped) == "Write-Output hi"
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()
    assert dispatch.run_command(host, f"powershell -e {b64(wrapped)}", [], b"", lab).stdout == "hi\r\n"


def test_win_reboot_commands() -> None:
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()
    suffix = (
        "; If (-not $?) { If (Get-Variable LASTEXITCODE -ErrorAction SilentlyContinue) "
        "{ exit $LASTEXITCODE } Else { exit 1 } }"
    )

    def run(script: str) -> Any:
        return dispatch.run_command(host, f"PowerShell -NoProfile -EncodedCommand {b64(script + suffix)}", [], b"", lab)

    boot = run(
        "(Get-CimInstance -ClassName Win32_OperatingSystem -Property LastBootUpTime).LastBootUpTime.ToFileTime()"
    )
    assert (boot.rc, boot.stdout) == (0, f"{host.boot_filetime}\r\n")
    reboot_script = (
        "$ErrorActionPreference = 'Continue'\n\nif ($True) {\n    Remove-Item -LiteralPath 'x' -Force\n}\n\n"
        "$stdout = $null\n$stderr = . { C:\\Windows\\System32\\shutdown.exe /r /t 7 /c 'Reboot initiated by "
        "Ansible' | Set-Variable stdout } 2>&1 | ForEach-Object ToString\n\nConvertTo-Json -Compress -InputObject @{"
        '\n    stdout = (@($stdout) -join "`n")\n    stderr = (@($stderr) -join "`n")\n    rc = $LASTEXITCODE\n}\n'
    )
    first = run(reboot_script)
    assert json.loads(first.stdout) == {"stdout": "", "stderr": "", "rc": 0}
    assert lab.reboots == [7]
    again = json.loads(run(reboot_script).stdout)
    assert again["rc"] == 1190  # A system shutdown has already been scheduled
    assert run(r"C:\Windows\System32\shutdown.exe /a").rc == 0
    assert run(r"C:\Windows\System32\shutdown.exe /a").rc == 1116
    token = "success-0b4c8a5e-5c1e-4b1e-9f0e-1234567890ab"
    test = run(
        "Get-Item -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\AutoLogonChecked'"
        f" -ErrorAction Stop; '{token}'"
    )
    assert (test.rc, test.stdout) == (0, token + "\r\n")
    assert lab.entries == []


@pytest.mark.parametrize(
    ("script", "stdout", "rc"),
    [
        ("Write-Output hi", "hi\r\n", 0),
        ("echo 'it''s'", "it's\r\n", 0),
        ('Write-Output "plain"', "plain\r\n", 0),
        ("hostname", "H1\r\n", 0),
        ("$env:COMPUTERNAME", "H1\r\n", 0),
        ("$PSVersionTable.PSVersion.Major", "5\r\n", 0),
        ("exit 3", "", 3),
    ],
)
def test_trivially_safe_raw_commands(script: str, stdout: str, rc: int) -> None:
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()
    result = dispatch.run_command(host, "powershell", ["-EncodedCommand", b64(script)], b"", lab)
    assert (result.stdout, result.rc) == (stdout, rc)
    assert lab.entries == []


@pytest.mark.parametrize(
    "script",
    [
        'Write-Output "$(Remove-Item C:\\x)"',  # subexpression: not a literal
        "Write-Output hi; Remove-Item C:\\x",
        "Get-ChildItem C:\\",
        "",
    ],
)
def test_anything_else_fails_loudly(script: str) -> None:
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()
    result = dispatch.run_command(host, "powershell", ["-EncodedCommand", b64(script)], b"", lab)
    assert result.rc == 1
    assert result.stdout == ""
    assert '<S S="Error">hygiene.winpatch lab: host H1 cannot run this command' in result.stderr
    assert lab.entries[0]["event"] == "unrecognised_command" and lab.entries[0]["level"] == "error"
    assert host.invocations[-1]["kind"] == "unrecognised"


def test_cmd_commands() -> None:
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()
    assert dispatch.run_command(host, "hostname", [], b"", lab).stdout == "H1\r\n"
    assert dispatch.run_command(host, "cmd.exe", ["/c", "echo hello"], b"", lab).stdout == "hello\r\n"
    assert dispatch.run_command(host, "ipconfig", ["/all"], b"", lab).rc == 1
    assert dispatch.run_command(host, "cmd", ["/c", "echo a & del x"], b"", lab).rc == 1


def test_exec_wrapper_module_and_unknown_module() -> None:
    host, lab = SimHost("H1", "127.0.0.1"), FakeLab()

    def payload(script: str, args: dict[str, Any]) -> bytes:
        manifest = {
            "scripts": {},
            "actions": [
                {
                    "name": "module_wrapper.ps1",
                    "params": {
                        "Script": script,
                        "Variables": [{"Name": "complex_args", "Value": {**args, "_ansible_check_mode": False}}],
                    },
                    "secure_params": [],
                }
            ],
            "signed_hashlist": [],
        }
        return json.dumps({"name": "exec_wrapper"}).encode() + b"\n\0\0\0\0\n" + json.dumps(manifest).encode()

    ping = dispatch.run_command(
        host,
        f"powershell -EncodedCommand {b64('bootstrap')}",
        [],
        payload("ansible_collections.ansible.windows.plugins.modules.win_ping.ps1", {"data": "hello"}),
        lab,
    )
    assert ping.rc == 0
    assert json.loads(ping.stdout) == {
        "changed": False,
        "ping": "hello",
        "invocation": {"module_args": {"data": "hello"}},
    }
    other = dispatch.run_command(
        host,
        f"powershell -EncodedCommand {b64('bootstrap')}",
        [],
        payload("ansible_collections.ansible.windows.plugins.modules.win_updates.ps1", {}),
        lab,
    )
    assert other.rc == 1
    assert "no lab emulation for the module ansible.windows.win_updates" in other.stderr
