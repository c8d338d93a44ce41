# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's WS-Management server against unmodified pywinrm: transports, auth, faults, shells, firewall."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable

import pytest
import requests
import winrm
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from tests.integration.lab.conftest import PASSWORD, endpoint, log_entries, protocol, session, wait_until
from tests.lab import registry
from tests.lab.host import FirewallRule, SimHost
from tests.lab.wsman import soap
from tests.lab.wsman.server import LabBindError, LabServer

pytestmark = pytest.mark.lab

NewHost = Callable[..., SimHost]


def encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


# --- transports and authentication ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("transport", "scheme"),
    [("basic", "http"), ("ntlm", "http"), ("ssl", "https"), ("ntlm", "https")],
)
def test_run_ps_over_each_transport_with_validation(
    wsman_lab: LabServer, new_host: NewHost, transport: str, scheme: str
) -> None:
    host = new_host()
    before = wsman_lab.stats.copy()
    result = session(wsman_lab, host, transport, scheme).run_ps("Write-Output hi")
    assert (result.status_code, result.std_out, result.std_err) == (0, b"hi\r\n", b"")
    delta = wsman_lab.stats - before
    assert delta[f"requests_{scheme}"] >= 5  # Create, Command, Receive, Signal, Delete
    if transport == "ntlm" and scheme == "http":
        # pywinrm's message_encryption=auto seals every SOAP request over HTTP
        assert delta["requests_encrypted"] >= 5
        assert delta["requests_plain"] <= 1  # only the empty POST that sets up encryption
    else:
        assert delta["requests_encrypted"] == 0
    if transport == "ntlm":
        assert delta["ntlm_logons"] == 1
    assert [i["kind"] for i in host.invocations] == ["raw"]


@pytest.mark.parametrize(("transport", "scheme"), [("basic", "http"), ("ntlm", "http"), ("ntlm", "https")])
def test_wrong_password_is_rejected(wsman_lab: LabServer, new_host: NewHost, transport: str, scheme: str) -> None:
    host = new_host()
    bad = session(wsman_lab, host, transport, scheme, auth=("winpatch", "wrong-password"))
    with pytest.raises(InvalidCredentialsError):
        bad.run_ps("Write-Output hi")
    assert host.invocations == []
    assert log_entries(wsman_lab, "auth_refused", host)


def test_users_are_per_host(wsman_lab: LabServer, new_host: NewHost) -> None:
    """A user that exists on one host only cannot log on to another, with Basic or NTLM."""
    owner = new_host(users={"winpatch": PASSWORD, "alice": "Alice-Passw0rd!"})
    other = new_host()
    for transport in ("basic", "ntlm"):
        ok = session(wsman_lab, owner, transport, auth=("alice", "Alice-Passw0rd!")).run_ps("hostname")
        assert ok.std_out == owner.name.encode() + b"\r\n"
        with pytest.raises(InvalidCredentialsError):
            session(wsman_lab, other, transport, auth=("alice", "Alice-Passw0rd!")).run_ps("hostname")


def test_same_user_different_passwords_needs_host_qualified_ntlm_login(wsman_lab: LabServer, new_host: NewHost) -> None:
    first = new_host(users={"winpatch": PASSWORD, "admin": "First-Passw0rd!"})
    second = new_host(users={"winpatch": PASSWORD, "admin": "Second-Passw0rd!"})
    for host, password in ((first, "First-Passw0rd!"), (second, "Second-Passw0rd!")):
        result = session(wsman_lab, host, "ntlm", auth=(f"{host.name}\\admin", password)).run_ps("hostname")
        assert result.std_out == host.name.encode() + b"\r\n"
        basic = session(wsman_lab, host, "basic", auth=("admin", password)).run_ps("hostname")
        assert basic.status_code == 0
    with pytest.raises(InvalidCredentialsError):  # the other host's password is wrong here
        session(wsman_lab, first, "ntlm", auth=(f"{first.name}\\admin", "Second-Passw0rd!")).run_ps("hostname")


def test_ntlm_channel_binding_is_enforced_on_strict_hosts(wsman_lab: LabServer, new_host: NewHost) -> None:
    strict = new_host(cbt_strict=True)
    relaxed = new_host()
    assert session(wsman_lab, strict, "ntlm", "https").run_ps("hostname").status_code == 0
    with pytest.raises(InvalidCredentialsError):
        session(wsman_lab, strict, "ntlm", "https", send_cbt=False).run_ps("hostname")
    assert session(wsman_lab, relaxed, "ntlm", "https", send_cbt=False).run_ps("hostname").status_code == 0
    assert any("bindings" in e["reason"].lower() for e in log_entries(wsman_lab, "auth_refused", strict))


def test_https_certificate_is_validated_against_the_lab_ca(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    untrusted = winrm.Session(endpoint(host, "https"), auth=("winpatch", PASSWORD), transport="ssl")
    with pytest.raises(requests.exceptions.SSLError):
        untrusted.run_ps("hostname")
    assert session(wsman_lab, host, "ssl", "https").run_ps("hostname").status_code == 0


def test_disabled_basic_auth_is_refused(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host(auth_basic=False)
    with pytest.raises(InvalidCredentialsError):
        session(wsman_lab, host, "basic").run_ps("hostname")
    assert session(wsman_lab, host, "ntlm").run_ps("hostname").status_code == 0


# --- faults ----------------------------------------------------------------------------------------------------
def test_down_host_refuses_connections_and_comes_back(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    client = session(wsman_lab, host, "basic")
    assert client.run_ps("hostname").status_code == 0
    host.faults.down = True
    wait_until(lambda: bool(log_entries(wsman_lab, "listeners_closed", host)), what="the listeners to close")
    with pytest.raises(requests.exceptions.ConnectionError, match=r"[Cc]onnection refused"):
        client.run_ps("hostname")
    probe = socket.socket()
    with pytest.raises(ConnectionRefusedError):
        probe.connect((host.address, 5986))
    probe.close()
    host.faults.down = False
    wait_until(lambda: bool(log_entries(wsman_lab, "listeners_open", host)), what="the listeners to reopen")
    assert client.run_ps("hostname").status_code == 0


def test_auth_refused_fault_gives_401(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    host.faults.auth_refused = True
    for transport in ("basic", "ntlm"):
        with pytest.raises(InvalidCredentialsError):
            session(wsman_lab, host, transport).run_ps("hostname")
    host.faults.auth_refused = False
    assert session(wsman_lab, host, "ntlm").run_ps("hostname").status_code == 0


def test_slow_host_delays_every_reply(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    host.faults.slow_seconds = 0.3
    start = time.monotonic()
    assert session(wsman_lab, host, "basic").run_ps("hostname").status_code == 0
    assert time.monotonic() - start >= 5 * 0.3  # five requests, each reply delayed
    host.faults.slow_seconds = 3.0
    impatient = session(wsman_lab, host, "basic", read_timeout_sec=2, operation_timeout_sec=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.run_ps("hostname")


def test_operation_timeout_storm(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    host.faults.operation_timeout_storm = 3
    proto = protocol(wsman_lab, host, "basic")
    shell = proto.open_shell()
    command = proto.run_command(shell, "powershell", ["-NoProfile", "-EncodedCommand", encoded("Write-Output hi")])
    for _attempt in range(3):
        with pytest.raises(WinRMOperationTimeoutError):
            proto.get_command_output_raw(shell, command)
    stdout, _stderr, rc, done = proto.get_command_output_raw(shell, command)
    assert (stdout, rc, done) == (b"hi\r\n", 0, True)
    proto.cleanup_command(shell, command)
    proto.close_shell(shell)
    # pywinrm's run_ps retries OperationTimeout faults itself and still gets the result
    assert session(wsman_lab, host, "ntlm").run_ps("Write-Output storm").std_out == b"storm\r\n"
    assert len(log_entries(wsman_lab, "fault", host)) == 6


def test_long_command_receive_times_out_then_completes(wsman_lab: LabServer, new_host: NewHost) -> None:
    """A real long poll: Receive waits OperationTimeout (1 s), faults w:TimedOut, and the result comes later."""
    host = new_host()
    proto = protocol(wsman_lab, host, "ntlm", operation_timeout_sec=1, read_timeout_sec=3)
    shell = proto.open_shell()
    command = proto.run_command(shell, "powershell", ["-EncodedCommand", encoded("Start-Sleep -Seconds 2.5")])
    timeouts = 0
    started = time.monotonic()
    while True:
        try:
            _out, _err, rc, done = proto.get_command_output_raw(shell, command)
        except WinRMOperationTimeoutError:
            timeouts += 1
            continue
        if done:
            break
    assert rc == 0
    assert timeouts == 2
    assert 2.4 <= time.monotonic() - started < 5
    proto.cleanup_command(shell, command)
    proto.close_shell(shell)


def test_http_500_fault(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    host.faults.http_500 = True
    for transport in ("basic", "ntlm"):
        with pytest.raises(WSManFaultError) as caught:
            session(wsman_lab, host, transport).run_ps("hostname")
        assert caught.value.code == 500
        assert caught.value.wsman_fault_code == soap.CODE_E_FAIL
        assert "fault injected" in caught.value.reason
    assert host.invocations == []


def test_drop_during_command(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    host.faults.drop_during_command = True
    with pytest.raises(requests.exceptions.ConnectionError):
        session(wsman_lab, host, "ntlm").run_ps("Write-Output dropped")
    wait_until(lambda: bool(host.invocations), what="the command to run on the host")
    assert host.invocations[0]["kind"] == "raw"  # the command itself ran (like an install that continues)
    assert log_entries(wsman_lab, "fault", host)[0]["fault"] == "drop_during_command"


def test_reboot_drops_connections_shells_and_refuses_during_downtime(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host(ubr=7171, pending_ubr=7300)
    proto = protocol(wsman_lab, host, "basic")
    shell = proto.open_shell()
    sealed = protocol(wsman_lab, host, "ntlm")
    sealed_shell = sealed.open_shell()
    boot_before = host.boot_filetime
    script = (
        "$stdout = $null\n$stderr = . { C:\\Windows\\System32\\shutdown.exe /r /t 1 /c 'lab test' "
        "| Set-Variable stdout } 2>&1 | ForEach-Object ToString\n"
        'ConvertTo-Json -Compress -InputObject @{ stdout = ""; stderr = ""; rc = $LASTEXITCODE }'
    )
    host.faults.reboot_downtime = 1.0
    result = session(wsman_lab, host, "basic").run_ps(script)
    assert json.loads(result.std_out) == {"stdout": "", "stderr": "", "rc": 0}
    wait_until(lambda: bool(log_entries(wsman_lab, "reboot", host)), what="the reboot")
    with pytest.raises(requests.exceptions.ConnectionError):
        session(wsman_lab, host, "basic").run_ps("hostname")
    wait_until(lambda: host.is_reachable() and bool(log_entries(wsman_lab, "listeners_open", host)), timeout=5)
    with pytest.raises(WSManFaultError) as caught:  # the old shell died with the reboot
        proto.run_command(shell, "hostname")
    assert caught.value.wsman_fault_code == soap.CODE_SHELL_NOT_FOUND
    # requests resends the NTLM-sealed body on a new socket after the drop: Windows answers 400 (notes, pitfall 11)
    with pytest.raises(WinRMTransportError) as transport_error:
        sealed.run_command(sealed_shell, "hostname")
    assert transport_error.value.code == 400
    assert host.build == "10.0.26100.7300"
    assert host.boot_filetime > boot_before
    boot = session(wsman_lab, host, "basic").run_ps(
        "(Get-CimInstance -ClassName Win32_OperatingSystem -Property LastBootUpTime).LastBootUpTime.ToFileTime()"
    )
    assert int(boot.std_out) == host.boot_filetime


# --- firewall --------------------------------------------------------------------------------------------------
def test_firewall_block_rule_refuses_the_controller(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    host.firewall_rules.append(
        FirewallRule("Block controller", action="block", local_ports=[5985], remote_addresses=["127.0.0.0/8"])
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        session(wsman_lab, host, "basic").run_ps("hostname")
    assert host.invocations == []
    assert log_entries(wsman_lab, "firewall_block", host)[0]["reason"] == "block rule 'Block controller'"
    # 5986 is not blocked by that rule
    assert session(wsman_lab, host, "ssl", "https").run_ps("hostname").status_code == 0


def test_firewall_default_block_without_winrm_rule(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host(firewall_rules=[])  # a quarantine that forgot the management rule
    with pytest.raises(requests.exceptions.ConnectionError):
        session(wsman_lab, host, "basic").run_ps("hostname")
    host.firewall_rules.append(FirewallRule("Mgmt", local_ports=[5985], remote_addresses=["127.0.0.1"]))
    assert session(wsman_lab, host, "basic").run_ps("hostname").status_code == 0
    host.firewall_profiles["Domain"].allow_local_rules = False  # GPO: local rules ignored
    with pytest.raises(requests.exceptions.ConnectionError):
        session(wsman_lab, host, "basic").run_ps("hostname")
    host.firewall_profiles["Domain"].enabled = False  # profile off: everything allowed
    assert session(wsman_lab, host, "basic").run_ps("hostname").status_code == 0


# --- dispatch through the server -------------------------------------------------------------------------------
def test_unrecognised_script_fails_loudly(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    result = session(wsman_lab, host, "ntlm").run_ps("Remove-Item C:\\Windows -Recurse")
    assert result.status_code == 1
    assert b"cannot run this command" in result.std_err
    assert b"Remove-Item" in result.std_err
    entries = log_entries(wsman_lab, "unrecognised_command", host)
    assert entries and entries[0]["level"] == "error"
    assert entries[0] in wsman_lab.errors()
    wsman_lab.log.remove(entries[0])  # expected; keep the module's error list clean


def test_collection_script_dispatch_and_failure(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()

    if registry.find_handler("lab_selftest") is None:

        @registry.script_handler("lab_selftest")
        def selftest(sim: SimHost, params: dict) -> dict:
            if params.get("fail"):
                raise registry.HandlerFailure(f"asked to fail on {sim.name}", code=42)
            return {"echo": params, "build": sim.build}

    proto = protocol(wsman_lab, host, "ntlm")
    shell = proto.open_shell(codepage=65001)
    script = "# hygiene.winpatch script: lab_selftest v1\n$p = [Console]::In.ReadToEnd() | ConvertFrom-Json\n"
    args = ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted", "-EncodedCommand", encoded(script)]
    outcomes = []
    for params in ({"x": "Grüße"}, {"fail": True}):
        command = proto.run_command(shell, "powershell", args, console_mode_stdin=False)
        proto.send_command_input(shell, command, json.dumps(params).encode(), end=True)
        stdout, _stderr, rc = proto.get_command_output(shell, command)
        proto.cleanup_command(shell, command)
        outcomes.append((json.loads(stdout.decode("utf-8")), rc))
    proto.close_shell(shell)
    assert outcomes[0] == ({"echo": {"x": "Grüße"}, "build": host.build}, 0)
    assert outcomes[1] == ({"failed": True, "msg": f"asked to fail on {host.name}", "code": 42}, 1)
    assert [(i["name"], i["rc"]) for i in host.invocations] == [("lab_selftest", 0), ("lab_selftest", 1)]


def test_large_output_is_chunked_under_max_envelope_size(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    if registry.find_handler("lab_selftest_bulk") is None:

        @registry.script_handler("lab_selftest_bulk")
        def bulk(sim: SimHost, params: dict) -> dict:
            return {"blob": "x" * int(params["size"])}

    proto = protocol(wsman_lab, host, "basic")
    shell = proto.open_shell()
    command = proto.run_command(
        shell,
        "powershell",
        ["-EncodedCommand", encoded("# hygiene.winpatch script: lab_selftest_bulk v1\n")],
        console_mode_stdin=False,
    )
    proto.send_command_input(shell, command, b'{"size": 300000}', end=True)
    chunks = []
    while True:
        stdout, _err, rc, done = proto.get_command_output_raw(shell, command)
        chunks.append(len(stdout))
        if done:
            break
    proto.cleanup_command(shell, command)
    proto.close_shell(shell)
    assert rc == 0
    assert sum(chunks) == len(json.dumps({"blob": "x" * 300000}, separators=(",", ":"))) + 2
    assert len(chunks) >= 5 and max(chunks) <= 65536


@pytest.mark.parametrize(("codepage", "expected"), [(437, "Grüße".encode("cp437")), (65001, "Grüße".encode())])
def test_output_uses_the_shell_codepage(
    wsman_lab: LabServer, new_host: NewHost, codepage: int, expected: bytes
) -> None:
    host = new_host()
    proto = protocol(wsman_lab, host, "basic")
    shell = proto.open_shell(codepage=codepage)
    command = proto.run_command(shell, "powershell", ["-EncodedCommand", encoded("Write-Output 'Grüße'")])
    stdout, _err, rc = proto.get_command_output(shell, command)
    proto.close_shell(shell)
    assert (stdout, rc) == (expected + b"\r\n", 0)


@pytest.mark.parametrize("flag", ["-EncodedCommand", "-encodedcommand", "-e", "-ec", "-en", "-enc", "-EncodedC"])
def test_every_encoded_command_prefix(wsman_lab: LabServer, new_host: NewHost, flag: str) -> None:
    host = new_host()
    proto = protocol(wsman_lab, host, "basic")
    shell = proto.open_shell()
    # Windows PowerShell accepts any of these; the whole line may also arrive in rsp:Command alone
    command = proto.run_command(shell, f"PowerShell.exe -NoProfile {flag} {encoded('Write-Output ok')}")
    stdout, _err, rc = proto.get_command_output(shell, command)
    proto.close_shell(shell)
    assert (stdout, rc) == (b"ok\r\n", 0)


def test_unknown_shell_and_quota_faults(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    proto = protocol(wsman_lab, host, "basic")
    with pytest.raises(WSManFaultError) as caught:
        proto.run_command("00000000-0000-0000-0000-000000000000", "hostname")
    assert caught.value.wsman_fault_code == soap.CODE_SHELL_NOT_FOUND
    shells = [proto.open_shell() for _shell in range(30)]
    with pytest.raises(WSManFaultError) as caught:
        proto.open_shell()
    assert caught.value.wsman_fault_code == soap.CODE_MAX_SHELLS
    for shell in shells:
        proto.close_shell(shell)
    proto.close_shell(proto.open_shell())


# --- lifecycle -------------------------------------------------------------------------------------------------
def test_address_in_use_is_a_clear_error(wsman_lab: LabServer, new_host: NewHost) -> None:
    host = new_host()
    clash = LabServer([SimHost("CLASH", host.address)], https_port=None)
    with pytest.raises(LabBindError, match=rf"{host.address}:5985 \(http\) for host CLASH: the address is already"):
        clash.start()
    clash.stop()
    with pytest.raises(ValueError, match=f"address {host.address} is already used by {host.name}"):
        wsman_lab.add_host(SimHost("DUP", host.address))
    with pytest.raises(ValueError, match=r"address 0\.0\.0\.0 is not a loopback address"):
        LabServer([SimHost("ANY", "0.0.0.0")])
    with pytest.raises(ValueError, match="'win-01' is not an IP address"):
        wsman_lab.add_host(SimHost("NAME", "win-01"))


def test_stop_closes_every_listener(lab_octet: int) -> None:
    address = f"127.{lab_octet}.242.1"
    lab = LabServer([SimHost("STOPME", address)], https_port=None)
    lab.start()
    assert (
        winrm.Session(f"http://{address}:5985/wsman", auth=("winpatch", PASSWORD), transport="basic")
        .run_ps("hostname")
        .std_out
        == b"STOPME\r\n"
    )
    lab.stop()
    probe = socket.socket()
    with pytest.raises(ConnectionRefusedError):
        probe.connect((address, 5985))
    probe.close()


def test_module_left_no_unexpected_errors(wsman_lab: LabServer) -> None:
    assert wsman_lab.errors() == []
