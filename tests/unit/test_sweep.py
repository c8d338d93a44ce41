# SPDX-License-Identifier: GPL-3.0-or-later
"""The sweep's pure parts: connection variables, retry, failure classification, and the pool on closed ports."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WinRMTransportError

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _sweep

BASE = {"ansible_host": "127.0.0.1", "ansible_user": "u", "ansible_password": "S3cret-Value"}


def test_target_defaults_follow_the_winrm_connection() -> None:
    target = _sweep.target_from_vars("h", BASE)
    assert (target.port, target.scheme, target.transport, target.cert_validation) == (5986, "https", "ntlm", "validate")
    assert target.endpoint == "https://127.0.0.1:5986/wsman"
    assert (target.read_timeout, target.operation_timeout) == (30, 20)
    assert "S3cret" not in repr(target)  # the password stays out of logs
    http = _sweep.target_from_vars("h", {**BASE, "ansible_port": "5985"})
    assert (http.port, http.scheme) == (5985, "http")


def test_target_host_vars_win_over_defaults_and_winrm_names_over_generic() -> None:
    target = _sweep.target_from_vars(
        "h",
        {
            **BASE,
            "ansible_winrm_user": "w",
            "ansible_winrm_connection_timeout": 5,
            "ansible_winrm_transport": ["basic"],
        },
        {"ansible_user": "default", "ansible_winrm_scheme": "http", "ansible_port": 5985},
    )
    assert (target.user, target.scheme, target.transport) == ("w", "http", "basic")
    assert (target.operation_timeout, target.read_timeout) == (5, 15)
    assert _sweep.target_from_vars("name-only", {"ansible_user": "u"}).host == "name-only"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ansible_port": "x"}, "ansible_port must be an integer, got 'x'"),
        ({"ansible_port": 70000}, "ansible_port must be at most 65535, got 70000"),
        ({"ansible_winrm_scheme": "ftp"}, "ansible_winrm_scheme must be http or https, got 'ftp'"),
        ({"ansible_winrm_transport": "carrier-pigeon"}, "ansible_winrm_transport must be one of basic, "),
        ({"ansible_winrm_server_cert_validation": "maybe"}, "must be validate or ignore, got 'maybe'"),
        ({"ansible_winrm_read_timeout_sec": 10}, "ansible_winrm_read_timeout_sec (10) must exceed"),
        ({"ansible_winrm_message_encryption": "sometimes"}, "must be auto, always or never, got 'sometimes'"),
        ({"ansible_winrm_send_cbt": "perhaps"}, "ansible_winrm_send_cbt must be a boolean, got 'perhaps'"),
    ],
)
def test_target_errors_name_the_variable(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        _sweep.target_from_vars("h", {**BASE, **extra})
    assert message in str(err.value)


def test_target_needs_a_user() -> None:
    with pytest.raises(ValueError, match="ansible_user is not set"):
        _sweep.target_from_vars("h", {"ansible_host": "127.0.0.1"})


def test_retry_retries_transient_failures_only() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _sweep._Failure("unreachable", "dropped", transient=True)
        return "ok"

    assert _sweep.retry(flaky, attempts=3, base_delay=0.01, is_transient=_sweep._transient) == ("ok", 3)

    calls.clear()

    def refused() -> str:
        calls.append(1)
        raise _sweep._Failure("unreachable", "refused")

    with pytest.raises(_sweep._Failure):
        _sweep.retry(refused, attempts=3, base_delay=0.01, is_transient=_sweep._transient)
    assert len(calls) == 1


def test_retry_gives_up_at_the_deadline() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        raise _sweep._Failure("unreachable", "dropped", transient=True)

    start = time.monotonic()
    with pytest.raises(_sweep._Failure):
        _sweep.retry(flaky, attempts=10, base_delay=5, is_transient=_sweep._transient, deadline=start + 0.2)
    assert time.monotonic() - start < 1.0
    assert len(calls) < 10


def _target() -> _sweep.Target:
    return _sweep.target_from_vars("h", {**BASE, "ansible_port": 5985})


@pytest.mark.parametrize(
    ("error", "kind", "reason", "transient"),
    [
        (
            InvalidCredentialsError("rejected"),
            "unreachable",
            "auth refused: http://127.0.0.1:5985/wsman rejected the credentials of user 'u' (HTTP 401)",
            False,
        ),
        (
            WinRMOperationTimeoutError(),
            "unreachable",
            "timed out: http://127.0.0.1:5985/wsman did not finish the script within 7s",
            False,
        ),
        (WinRMTransportError("http", 503, ""), "unreachable", "HTTP 503 from http://127.0.0.1:5985/wsman", True),
        (
            WinRMTransportError("http", 500, "<x>boom</x>"),
            "error",
            "HTTP 500 from http://127.0.0.1:5985/wsman: <x>boom</x>",
            False,
        ),
        (
            requests.exceptions.ReadTimeout("read timed out"),
            "unreachable",
            "timed out: no answer from http://127.0.0.1:5985/wsman within 7s",
            False,
        ),
        (
            requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),
            "unreachable",
            "connection to http://127.0.0.1:5985/wsman failed: [Errno 104] Connection reset by peer",
            True,
        ),
    ],
)
def test_classify(error: Exception, kind: str, reason: str, transient: bool) -> None:
    failure = _sweep._classify(error, _target(), 7)
    assert (failure.kind, failure.reason, failure.transient) == (kind, reason, transient)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sweep_reports_every_host_and_reads_the_input_lazily() -> None:
    port = _closed_port()
    consumed = []

    def hosts():
        for i in range(40):
            consumed.append(i)
            vars_ = {**BASE, "ansible_port": port, "ansible_winrm_scheme": "http"}
            if i == 3:
                vars_["ansible_port"] = "bad"
            yield f"h{i}", vars_

    seen = []
    results = _sweep.sweep(hosts(), workers=2, timeout=5, progress=lambda done, r: seen.append(done))
    first = next(results)
    assert len(consumed) <= 2 * 2 + 1  # at most twice the pool is queued ahead
    rest = list(results)
    by_name = {r.name: r for r in [first, *rest]}
    assert len(by_name) == 40 and seen == list(range(1, 41))
    assert by_name["h3"].kind == "error"
    assert by_name["h3"].reason == "bad connection variables: ansible_port must be an integer, got 'bad'"
    assert by_name["h0"].kind == "unreachable"
    assert by_name["h0"].reason == f"connection refused by 127.0.0.1:{port}"
    assert by_name["h0"].attempts == 1


def test_sweep_rejects_a_bad_pool() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        list(_sweep.sweep([], workers=0))


PSRP = {**BASE, "ansible_connection": "psrp"}


@pytest.mark.parametrize(
    ("extra", "endpoint"),
    [
        ({}, "https://127.0.0.1:5986/wsman"),
        ({"ansible_psrp_protocol": "http"}, "http://127.0.0.1:5985/wsman"),
        ({"ansible_psrp_protocol": "https"}, "https://127.0.0.1:5986/wsman"),
        ({"ansible_port": 5985}, "http://127.0.0.1:5985/wsman"),
        ({"ansible_psrp_port": 8080, "ansible_psrp_protocol": "http"}, "http://127.0.0.1:8080/wsman"),
        ({"ansible_psrp_port": 8443, "ansible_psrp_path": "custom"}, "https://127.0.0.1:8443/custom"),
        # psrp ignores the winrm connection's variables, and so does the sweep for a psrp host.
        (
            {"ansible_psrp_protocol": "http", "ansible_winrm_scheme": "https", "ansible_winrm_port": 1},
            "http://127.0.0.1:5985/wsman",
        ),
    ],
)
def test_psrp_target_follows_the_psrp_connection(extra: dict[str, Any], endpoint: str) -> None:
    assert _sweep.target_from_vars("h", {**PSRP, **extra}).endpoint == endpoint


def test_psrp_variables_map_to_pywinrm() -> None:
    target = _sweep.target_from_vars(
        "h",
        {
            **PSRP,
            "ansible_connection": "ansible.builtin.psrp",
            "ansible_psrp_host": "10.0.0.9",
            "ansible_psrp_user": "p",
            "ansible_psrp_auth": "basic",
            "ansible_psrp_cert_validation": "ignore",
            "ansible_psrp_ca_cert": "/etc/ca.pem",
            "ansible_psrp_read_timeout": 40,
            "ansible_psrp_operation_timeout": 25,
            "ansible_psrp_message_encryption": "never",
            "ansible_psrp_negotiate_send_cbt": "no",
        },
    )
    assert (target.host, target.user, target.password, target.transport) == ("10.0.0.9", "p", "S3cret-Value", "basic")
    assert (target.cert_validation, target.ca_trust_path) == ("ignore", "/etc/ca.pem")
    assert (target.read_timeout, target.operation_timeout, target.message_encryption) == (40, 25, "never")
    assert target.send_cbt is False
    assert _sweep.target_from_vars("h", PSRP).transport == "ntlm"  # negotiate: NTLM (no Kerberos in pywinrm)
    assert _sweep.target_from_vars("h", {**PSRP, "ansible_psrp_cert_trust_path": "/x.pem"}).ca_trust_path == "/x.pem"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ansible_psrp_protocol": "ftp"}, "ansible_psrp_protocol must be http or https, got 'ftp'"),
        ({"ansible_psrp_port": "x"}, "ansible_psrp_port must be an integer, got 'x'"),
        ({"ansible_psrp_auth": "certificate"}, "ansible_psrp_auth=certificate (client certificates) is not supported"),
        ({"ansible_psrp_certificate_pem": "/c.pem"}, "ansible_psrp_auth=certificate (client certificates) is not"),
        ({"ansible_psrp_auth": "kerberos"}, "ansible_psrp_auth=kerberos needs the Python package requests-kerberos"),
        ({"ansible_psrp_auth": "credssp"}, "ansible_psrp_auth=credssp needs the Python package requests-credssp"),
        ({"ansible_psrp_auth": "magic"}, "ansible_psrp_auth must be one of basic, ntlm, negotiate, kerberos, credssp"),
        ({"ansible_psrp_proxy": "http://proxy:3128"}, "ansible_psrp_proxy is not supported by the sweep"),
        ({"ansible_psrp_configuration_name": "JEA"}, "ansible_psrp_configuration_name='JEA' cannot be honoured"),
        ({"ansible_psrp_cert_validation": "maybe"}, "ansible_psrp_cert_validation must be validate or ignore"),
        (
            {"ansible_psrp_read_timeout": 10},
            "ansible_psrp_read_timeout (10) must exceed ansible_psrp_operation_timeout",
        ),
        ({"ansible_psrp_message_encryption": "x"}, "ansible_psrp_message_encryption must be auto, always or never"),
    ],
)
def test_psrp_variables_that_cannot_be_honoured_name_the_variable(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        _sweep.target_from_vars("h", {**PSRP, **extra})
    assert message in str(err.value)


def _request_error(url: str) -> Exception:
    try:
        requests.post(url, data=b"x", timeout=5, verify=True)
    except requests.exceptions.RequestException as e:
        return e
    raise AssertionError(f"{url} answered")


def test_connection_reasons_are_the_same_from_the_exception_and_from_ansibles_message() -> None:
    """The sweep sees the exception; build_facts only ansible's winrm message ("<transport>: <text>")."""
    import http.server
    import threading

    closed = _closed_port()
    refused = _sweep.target_from_vars("h", {**BASE, "ansible_port": closed, "ansible_winrm_scheme": "http"})
    error = _request_error(refused.endpoint)
    expected = f"connection refused by 127.0.0.1:{closed}"
    assert _sweep.connection_failure_reason(refused, error, 30) == expected
    assert _sweep.connection_failure_reason(refused, f"ntlm: {error}", 30) == expected
    assert _sweep._classify(error, refused, 30).reason == expected

    # HTTPS against a port that speaks plain HTTP.
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        plain = _sweep.target_from_vars("h", {**BASE, "ansible_port": port, "ansible_winrm_scheme": "https"})
        error = _request_error(plain.endpoint)
    finally:
        server.shutdown()
        server.server_close()
    expected = (
        f"TLS handshake failed with https://127.0.0.1:{port}/wsman: port {port} does not speak TLS "
        "(an HTTP listener?); check the host's scheme and port (WinRM listens for HTTP on 5985, HTTPS on 5986)"
    )
    assert _sweep.connection_failure_reason(plain, error, 30) == expected
    assert _sweep.connection_failure_reason(plain, f"basic: {error}", 30) == expected
    assert _sweep._classify(error, plain, 30).reason == expected

    # Ansible's own wording for a refused login and an operation timeout; anything else is not ours to rename.
    target = _target()
    assert _sweep.connection_failure_reason(
        target, "ntlm: the specified credentials were rejected by the server", 30
    ) == ("auth refused: http://127.0.0.1:5985/wsman rejected the credentials of user 'u' (HTTP 401)")
    assert _sweep.connection_failure_reason(target, "the connection attempt timed out", 30) == (
        "timed out: no answer from http://127.0.0.1:5985/wsman within 30s"
    )
    assert (
        _sweep.connection_failure_reason(
            target, "ssl: certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)", 30
        )
        == "TLS validation failed for http://127.0.0.1:5985/wsman: self-signed certificate in certificate chain"
    )
    assert _sweep.connection_failure_reason(target, "kerberos: the krb5 library is missing", 30) is None
