# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Run one of our scripts on many Windows hosts at once, through pywinrm.

The inventory plugin has no connection of its own, so it reads the hosts with this module. Each host
gets a ``winrm.Protocol`` built from its usual ``ansible_*`` connection variables, one shell, one
command (the script, ``-EncodedCommand``) with the JSON parameters on stdin, and a result or a precise
reason. A bounded thread pool runs the hosts; results are yielded as they complete and nothing is
kept per host once it is yielded, so memory stays flat however large the fleet.

Failure kinds, as the caller maps them to states:

- ``unreachable``: nothing was read: connection refused, timed out, TLS validation failed, credentials
  refused, connection dropped;
- ``error``: the host answered but not with our result: a WinRM fault, a script failure, garbage, or
  connection variables that cannot be used.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _scripts
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import ScriptError

try:
    import requests
    import winrm
    from winrm.exceptions import (
        InvalidCredentialsError,
        WinRMError,
        WinRMOperationTimeoutError,
        WinRMTransportError,
        WSManFaultError,
    )
except ImportError as _e:  # reported by the callers, which name the missing requirement
    winrm = None
    WINRM_IMPORT_ERROR: ImportError | None = _e
else:
    WINRM_IMPORT_ERROR = None

T = TypeVar("T")

OK = "ok"
UNREACHABLE = "unreachable"
ERROR = "error"

# Defaults of ansible-core's winrm connection plugin, so a host reads the same either way.
DEFAULT_HTTPS_PORT = 5986
DEFAULT_HTTP_PORT = 5985
DEFAULT_TRANSPORT = "ntlm"
DEFAULT_READ_TIMEOUT = 30
DEFAULT_OPERATION_TIMEOUT = 20
TRANSPORTS = ("basic", "plaintext", "ntlm", "ssl", "certificate", "kerberos", "credssp")
# The ansible_* variables read for each host (ansible_winrm_* win over the generic ones).
CONNECTION_VARS = (
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_password",
    "ansible_winrm_host",
    "ansible_winrm_port",
    "ansible_winrm_user",
    "ansible_winrm_pass",
    "ansible_winrm_password",
    "ansible_winrm_transport",
    "ansible_winrm_scheme",
    "ansible_winrm_path",
    "ansible_winrm_server_cert_validation",
    "ansible_winrm_ca_trust_path",
    "ansible_winrm_read_timeout_sec",
    "ansible_winrm_operation_timeout_sec",
    "ansible_winrm_connection_timeout",
    "ansible_winrm_message_encryption",
    "ansible_winrm_send_cbt",
    "ansible_connection",
    "ansible_psrp_host",
    "ansible_psrp_user",
    "ansible_psrp_port",
    "ansible_psrp_protocol",
    "ansible_psrp_path",
    "ansible_psrp_auth",
    "ansible_psrp_cert_validation",
    "ansible_psrp_cert_trust_path",
    "ansible_psrp_ca_cert",
    "ansible_psrp_read_timeout",
    "ansible_psrp_operation_timeout",
    "ansible_psrp_message_encryption",
    "ansible_psrp_negotiate_send_cbt",
    "ansible_psrp_proxy",
    "ansible_psrp_configuration_name",
    "ansible_psrp_certificate_pem",
    "ansible_psrp_certificate_key_pem",
)
PSRP_CONNECTIONS = ("psrp", "ansible.builtin.psrp", "ansible.legacy.psrp")
# ansible_psrp_auth -> pywinrm transport. negotiate is NTLM: pywinrm has no SPNEGO transport, and psrp's negotiate
# falls back to NTLM without Kerberos. kerberos and credssp need requests-kerberos / requests-credssp for pywinrm.
PSRP_AUTH = {"basic": "basic", "ntlm": "ntlm", "negotiate": "ntlm", "kerberos": "kerberos", "credssp": "credssp"}
PSRP_AUTH_LIBRARIES = {
    "kerberos": ("requests_kerberos", "requests-kerberos"),
    "credssp": ("requests_credssp", "requests-credssp"),
}


@dataclass(frozen=True)
class Target:
    """Where and how to reach one host."""

    name: str
    host: str
    port: int
    scheme: str
    transport: str
    user: str
    password: str = field(repr=False)
    cert_validation: str = "validate"
    ca_trust_path: str | None = None
    read_timeout: int = DEFAULT_READ_TIMEOUT
    operation_timeout: int = DEFAULT_OPERATION_TIMEOUT
    message_encryption: str = "auto"
    send_cbt: bool = True
    path: str = "/wsman"

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass
class HostResult:
    """What one host gave: the script's JSON result, or why there is none."""

    name: str
    kind: str  # ok | unreachable | error
    facts: dict[str, Any] | None = None
    reason: str = ""
    elapsed: float = 0.0
    attempts: int = 1
    address: str = ""


class _Failure(Exception):
    """One host's failure, already classified; ``transient`` failures are worth one more try."""

    def __init__(self, kind: str, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.transient = transient


def _first(hostvars: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        value = hostvars.get(name)
        if value is not None and value != "":
            return value
    return default


def _as_bool(name: str, value: Any) -> bool:
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ValueError(f"{name} must be a boolean, got {value!r}") from None


def _as_int(name: str, value: Any, minimum: int = 1) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def target_from_vars(name: str, hostvars: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> Target:
    """A ``Target`` from a host's ``ansible_*`` variables, with ``defaults`` for what the host does not set.

    Follows ansible-core's winrm connection: port 5986 unless set; scheme http only on port 5985 unless
    set; transport ntlm; certificate validation on. Raises ``ValueError`` naming the variable at fault.
    """
    values = {**(defaults or {}), **{k: v for k, v in hostvars.items() if v is not None}}
    if str(values.get("ansible_connection") or "").strip().lower() in PSRP_CONNECTIONS:
        return _psrp_target(name, values)
    host = str(_first(values, "ansible_winrm_host", "ansible_host", default=name))
    port = _as_int("ansible_port", _first(values, "ansible_winrm_port", "ansible_port", default=DEFAULT_HTTPS_PORT))
    if port > 65535:
        raise ValueError(f"ansible_port must be at most 65535, got {port}")
    scheme = str(_first(values, "ansible_winrm_scheme", default="http" if port == DEFAULT_HTTP_PORT else "https"))
    if scheme not in ("http", "https"):
        raise ValueError(f"ansible_winrm_scheme must be http or https, got {scheme!r}")
    transport = _first(values, "ansible_winrm_transport", default=DEFAULT_TRANSPORT)
    if isinstance(transport, list | tuple):  # ansible accepts a list and uses the first it supports
        transport = transport[0] if transport else DEFAULT_TRANSPORT
    transport = str(transport).strip().lower()
    if transport not in TRANSPORTS:
        raise ValueError(f"ansible_winrm_transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    user = _first(values, "ansible_winrm_user", "ansible_user")
    if user is None:
        raise ValueError("ansible_user is not set")
    password = _first(values, "ansible_winrm_password", "ansible_winrm_pass", "ansible_password", default="")
    validation = str(_first(values, "ansible_winrm_server_cert_validation", default="validate")).lower()
    if validation not in ("validate", "ignore"):
        raise ValueError(f"ansible_winrm_server_cert_validation must be validate or ignore, got {validation!r}")
    connection_timeout = _first(values, "ansible_winrm_connection_timeout")
    if connection_timeout is not None:  # as ansible does: operation timeout = it, read timeout = it + 10
        operation = _as_int("ansible_winrm_connection_timeout", connection_timeout)
        read = operation + 10
    else:
        read = _as_int(
            "ansible_winrm_read_timeout_sec",
            _first(values, "ansible_winrm_read_timeout_sec", default=DEFAULT_READ_TIMEOUT),
        )
        operation = _as_int(
            "ansible_winrm_operation_timeout_sec",
            _first(values, "ansible_winrm_operation_timeout_sec", default=DEFAULT_OPERATION_TIMEOUT),
        )
    if operation >= read:
        raise ValueError(
            f"ansible_winrm_read_timeout_sec ({read}) must exceed ansible_winrm_operation_timeout_sec ({operation})"
        )
    encryption = str(_first(values, "ansible_winrm_message_encryption", default="auto")).lower()
    if encryption not in ("auto", "always", "never"):
        raise ValueError(f"ansible_winrm_message_encryption must be auto, always or never, got {encryption!r}")
    ca_trust_path = _first(values, "ansible_winrm_ca_trust_path")
    return Target(
        name=name,
        host=host,
        port=port,
        scheme=scheme,
        transport=transport,
        user=str(user),
        password=str(password),
        cert_validation=validation,
        ca_trust_path=str(ca_trust_path) if ca_trust_path is not None else None,
        read_timeout=read,
        operation_timeout=operation,
        message_encryption=encryption,
        send_cbt=_as_bool("ansible_winrm_send_cbt", _first(values, "ansible_winrm_send_cbt", default=True)),
        path=str(_first(values, "ansible_winrm_path", default="/wsman")),
    )


def _psrp_target(name: str, values: Mapping[str, Any]) -> Target:
    """A ``Target`` for a host that connects with ``ansible.builtin.psrp``: the same WinRM listener, read with pywinrm.

    Follows the psrp connection's own rules: port 5986 and https when neither is set, http only on port 5985 when
    only the port is set, port 5985 for http when only the protocol is set; auth negotiate (NTLM here). The
    ``ansible_winrm_*`` variables are ignored, as psrp ignores them. Variables that pywinrm cannot honour raise
    ``ValueError`` naming them.
    """
    host = str(_first(values, "ansible_psrp_host", "ansible_host", default=name))
    protocol = _first(values, "ansible_psrp_protocol")
    port_value = _first(values, "ansible_psrp_port", "ansible_port")
    if protocol is not None:
        protocol = str(protocol).strip().lower()
        if protocol not in ("http", "https"):
            raise ValueError(f"ansible_psrp_protocol must be http or https, got {protocol!r}")
    if port_value is None:
        port = DEFAULT_HTTP_PORT if protocol == "http" else DEFAULT_HTTPS_PORT
    else:
        port = _as_int("ansible_psrp_port", port_value)
        if port > 65535:
            raise ValueError(f"ansible_psrp_port must be at most 65535, got {port}")
    scheme = protocol or ("http" if port == DEFAULT_HTTP_PORT else "https")
    auth = str(_first(values, "ansible_psrp_auth", default="negotiate")).strip().lower()
    if auth == "certificate" or _first(values, "ansible_psrp_certificate_pem", "ansible_psrp_certificate_key_pem"):
        raise ValueError("ansible_psrp_auth=certificate (client certificates) is not supported by the sweep")
    if auth not in PSRP_AUTH:
        raise ValueError(f"ansible_psrp_auth must be one of {', '.join(PSRP_AUTH)} or certificate, got {auth!r}")
    if auth in PSRP_AUTH_LIBRARIES:
        module, package = PSRP_AUTH_LIBRARIES[auth]
        try:
            __import__(module)
        except ImportError:
            raise ValueError(f"ansible_psrp_auth={auth} needs the Python package {package} on the controller") from None
    if _first(values, "ansible_psrp_proxy") is not None:
        raise ValueError("ansible_psrp_proxy is not supported by the sweep, which connects directly")
    configuration = str(_first(values, "ansible_psrp_configuration_name", default="Microsoft.PowerShell"))
    if configuration.lower() != "microsoft.powershell":
        raise ValueError(
            f"ansible_psrp_configuration_name={configuration!r} cannot be honoured: the sweep runs its script in a "
            "WinRS shell, not in a PowerShell session configuration"
        )
    user = _first(values, "ansible_psrp_user", "ansible_user")
    if user is None:
        raise ValueError("ansible_user is not set")
    password = _first(values, "ansible_password", "ansible_winrm_password", "ansible_winrm_pass", default="")
    validation = str(_first(values, "ansible_psrp_cert_validation", default="validate")).strip().lower()
    if validation not in ("validate", "ignore"):
        raise ValueError(f"ansible_psrp_cert_validation must be validate or ignore, got {validation!r}")
    read = _as_int(
        "ansible_psrp_read_timeout", _first(values, "ansible_psrp_read_timeout", default=DEFAULT_READ_TIMEOUT)
    )
    operation = _as_int(
        "ansible_psrp_operation_timeout",
        _first(values, "ansible_psrp_operation_timeout", default=DEFAULT_OPERATION_TIMEOUT),
    )
    if operation >= read:
        raise ValueError(f"ansible_psrp_read_timeout ({read}) must exceed ansible_psrp_operation_timeout ({operation})")
    encryption = str(_first(values, "ansible_psrp_message_encryption", default="auto")).strip().lower()
    if encryption not in ("auto", "always", "never"):
        raise ValueError(f"ansible_psrp_message_encryption must be auto, always or never, got {encryption!r}")
    ca_trust_path = _first(values, "ansible_psrp_ca_cert", "ansible_psrp_cert_trust_path")
    path = str(_first(values, "ansible_psrp_path", default="wsman"))
    return Target(
        name=name,
        host=host,
        port=port,
        scheme=scheme,
        transport=PSRP_AUTH[auth],
        user=str(user),
        password=str(password),
        cert_validation=validation,
        ca_trust_path=str(ca_trust_path) if ca_trust_path is not None else None,
        read_timeout=read,
        operation_timeout=operation,
        message_encryption=encryption,
        send_cbt=_as_bool(
            "ansible_psrp_negotiate_send_cbt", _first(values, "ansible_psrp_negotiate_send_cbt", default=True)
        ),
        path=path if path.startswith("/") else f"/{path}",
    )


def retry(
    func: Callable[[], T],
    *,
    attempts: int = 2,
    base_delay: float = 0.5,
    max_delay: float = 4.0,
    is_transient: Callable[[Exception], bool],
    deadline: float | None = None,
) -> tuple[T, int]:
    """Call ``func``; on a transient exception wait (exponential backoff with full jitter) and try again.

    Returns the result and the number of attempts. Gives up after ``attempts`` tries, or earlier when the
    next wait would pass ``deadline`` (a ``time.monotonic()`` value); the last exception is re-raised.
    """
    attempt = 1
    while True:
        try:
            return func(), attempt
        except Exception as e:
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            out_of_time = deadline is not None and time.monotonic() + delay >= deadline
            if attempt >= attempts or not is_transient(e) or out_of_time:
                raise
        time.sleep(delay)
        attempt += 1


def _transient(e: Exception) -> bool:
    return isinstance(e, _Failure) and e.transient


def _root_cause(e: BaseException) -> BaseException:
    """The innermost exception (urllib3 and requests wrap the socket error several times)."""
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        inner = e.__cause__ or e.__context__
        if inner is None and e.args and isinstance(e.args[0], BaseException):
            inner = e.args[0]
        reason = getattr(e, "reason", None)
        if inner is None and isinstance(reason, BaseException):
            inner = reason
        if inner is None:
            break
        e = inner
    return e


def _read_timeout(target: Target, timeout: float) -> int:
    """The HTTP read timeout used for a host: its own, but no longer than the time left for it."""
    return max(2, min(target.read_timeout, math.ceil(timeout)))


# How OpenSSL says that the other end answered a TLS hello with something that is not TLS (plain HTTP, usually).
NOT_TLS_MARKERS = (
    "wrong_version_number",
    "wrong version number",
    "record_layer_failure",
    "record layer failure",
    "packet length too long",
)


def connection_failure_reason(target: Target, error: BaseException | str, read_timeout: float) -> str | None:
    """The reason text for a failure to reach ``target``, or None when ``error`` is not a connection failure.

    ``error`` is what pywinrm/requests raised (the sweep), or the message of ansible's winrm/psrp connection
    (``build_facts``), which keeps only the text. Both give the same reasons for the same failure: connection
    refused, timed out, a port that does not speak TLS, TLS validation failed, credentials refused.
    """
    where = target.endpoint
    if isinstance(error, BaseException):
        cause: BaseException | None = _root_cause(error)
        text = f"{error} {cause}"
    else:
        cause, text = None, str(error)
    lowered = text.lower()
    if isinstance(error, InvalidCredentialsError) or "credentials were rejected" in lowered:
        return f"auth refused: {where} rejected the credentials of user {target.user!r} (HTTP 401)"
    if any(marker in lowered for marker in NOT_TLS_MARKERS):
        return (
            f"TLS handshake failed with {where}: port {target.port} does not speak TLS (an HTTP listener?); "
            f"check the host's scheme and port (WinRM listens for HTTP on {DEFAULT_HTTP_PORT}, "
            f"HTTPS on {DEFAULT_HTTPS_PORT})"
        )
    if (
        isinstance(error, requests.exceptions.SSLError)
        or "sslerror" in lowered
        or "certificate verify failed" in lowered
    ):
        detail = None
        if cause is not None:
            detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or str(cause)
        else:
            match = re.search(r"certificate verify failed: ([^(]+?)\s*\(_ssl", text)
            detail = match.group(1) if match else " ".join(text.split())[:200]
        return f"TLS validation failed for {where}: {detail}"
    if isinstance(cause, ConnectionRefusedError) or "connection refused" in lowered:
        return f"connection refused by {target.host}:{target.port}"
    timed_out = isinstance(error, requests.exceptions.Timeout) or isinstance(cause, TimeoutError)
    if timed_out or (cause is None and "timed out" in lowered):
        return f"timed out: no answer from {where} within {read_timeout:g}s"
    return None


def _classify(e: Exception, target: Target, timeout: float) -> _Failure:
    """Map whatever pywinrm/requests raised to a kind and a reason naming the host's endpoint."""
    where = f"{target.endpoint}"
    if isinstance(e, _Failure):
        return e
    if isinstance(e, ScriptError):
        return _Failure(ERROR, str(e))
    if isinstance(e, InvalidCredentialsError):
        return _Failure(UNREACHABLE, str(connection_failure_reason(target, e, timeout)))
    if isinstance(e, WinRMOperationTimeoutError):
        return _Failure(UNREACHABLE, f"timed out: {where} did not finish the script within {timeout:g}s")
    if isinstance(e, WSManFaultError):
        code = f" 0x{e.wsman_fault_code:08X}" if e.wsman_fault_code else ""
        return _Failure(ERROR, f"WinRM fault{code} from {where}: {e.reason or e.message}".rstrip())
    if isinstance(e, WinRMTransportError):
        text = " ".join((e.response_text or "").split())[:160]
        return _Failure(
            UNREACHABLE if e.code in (502, 503, 504) else ERROR,
            f"HTTP {e.code} from {where}" + (f": {text}" if text else ""),
            transient=e.code in (502, 503, 504),
        )
    if isinstance(e, requests.exceptions.RequestException):
        reason = connection_failure_reason(target, e, _read_timeout(target, timeout))
        if reason is not None:
            return _Failure(UNREACHABLE, reason)
    if isinstance(e, requests.exceptions.ConnectionError):
        cause = _root_cause(e)
        detail = str(cause) or type(cause).__name__
        return _Failure(UNREACHABLE, f"connection to {where} failed: {detail}", transient=True)
    if isinstance(e, WinRMError):
        return _Failure(ERROR, f"WinRM error from {where}: {e}")
    if isinstance(e, AssertionError | StopIteration | ValueError | KeyError):  # malformed replies inside pywinrm
        return _Failure(ERROR, f"malformed WinRM reply from {where}: {type(e).__name__} {e}".rstrip())
    return _Failure(ERROR, f"unexpected {type(e).__name__} while reading {where}: {e}")


def run_script(target: Target, command: str, stdin: bytes, *, timeout: float = 60.0) -> dict[str, Any]:
    """Run ``command`` on one host with ``stdin`` and return the decoded JSON result.

    One shell, one command, one Delete (which also ends the command, so no Signal is sent). Raises
    ``_Failure`` with the kind and reason.
    """
    deadline = time.monotonic() + timeout
    read_timeout = _read_timeout(target, timeout)
    operation_timeout = max(1, min(target.operation_timeout, read_timeout - 1))
    protocol = winrm.Protocol(
        target.endpoint,
        transport=target.transport,
        username=target.user,
        password=target.password,
        server_cert_validation=target.cert_validation,
        # Explicit, as pywinrm's "legacy_requests" default warns: the CA file, else requests' own environment.
        ca_trust_path=target.ca_trust_path or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"),
        read_timeout_sec=read_timeout,
        operation_timeout_sec=operation_timeout,
        message_encryption=target.message_encryption,
        send_cbt=target.send_cbt,
        proxy=None,
    )
    shell_id = None
    try:
        try:
            # Open a shell in UTF-8, as ansible's winrm connection does, and start the script.
            shell_id = protocol.open_shell(codepage=65001, noprofile=True)
            command_id = protocol.run_command(shell_id, command, console_mode_stdin=False)
            protocol.send_command_input(shell_id, command_id, stdin, end=True)

            # Receive until the command is done; each empty long poll is an OperationTimeout.
            stdout, stderr = [], []
            while True:
                try:
                    out, err, rc, done = protocol.get_command_output_raw(shell_id, command_id)
                except WinRMOperationTimeoutError:
                    if time.monotonic() >= deadline:
                        raise
                    continue
                stdout.append(out)
                stderr.append(err)
                if done:
                    break
                if time.monotonic() >= deadline:
                    raise WinRMOperationTimeoutError()
            return _scripts.decode_result(b"".join(stdout), b"".join(stderr), rc, host=target.name)
        except Exception as e:
            raise _classify(e, target, timeout) from e
    finally:
        # Delete the shell (best effort), then drop the TCP connections.
        try:
            if shell_id is not None:
                protocol.close_shell(shell_id, close_session=False)
        except Exception:  # noqa: S110 - the result is already decided; a failed Delete changes nothing
            pass
        protocol.transport.close_session()


def read_host(
    name: str,
    hostvars: Mapping[str, Any],
    command: str,
    stdin: bytes,
    *,
    defaults: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
    attempts: int = 2,
) -> HostResult:
    """Read one host; never raises. The result says ok, unreachable or error, and why."""
    start = time.monotonic()
    try:
        target = target_from_vars(name, hostvars, defaults)
    except ValueError as e:
        return HostResult(name, ERROR, reason=f"bad connection variables: {e}", elapsed=time.monotonic() - start)
    deadline = start + timeout
    try:
        facts, tries = retry(
            lambda: run_script(target, command, stdin, timeout=max(1.0, deadline - time.monotonic())),
            attempts=attempts,
            is_transient=_transient,
            deadline=deadline,
        )
    except _Failure as e:
        return HostResult(name, e.kind, reason=e.reason, elapsed=time.monotonic() - start, address=target.host)
    except Exception as e:  # one host must never stop the sweep
        failure = _classify(e, target, timeout)
        return HostResult(name, failure.kind, reason=failure.reason, elapsed=time.monotonic() - start)
    return HostResult(name, OK, facts=facts, elapsed=time.monotonic() - start, attempts=tries, address=target.host)


def sweep(
    hosts: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    script: str = "build_facts",
    params: dict[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    workers: int = 32,
    timeout: float = 60.0,
    attempts: int = 2,
    progress: Callable[[int, HostResult], None] | None = None,
) -> Iterator[HostResult]:
    """Read every host of ``hosts`` ((name, hostvars) pairs) with ``script``; yield results as they complete.

    At most ``workers`` hosts run at a time and at most twice that many are queued, so neither the
    input nor the results are held in memory. ``progress(done, result)`` is called for each host, in
    the calling thread.
    """
    if winrm is None:
        raise ScriptError(f"Failed to import pywinrm, which the sweep needs: {WINRM_IMPORT_ERROR}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    command = _scripts.command_line(script)
    stdin = _scripts.encode_params(params)
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="winpatch-sweep") as pool:
        pending: set[concurrent.futures.Future[HostResult]] = set()
        source = iter(hosts)
        exhausted = False
        while pending or not exhausted:
            # Keep the queue topped up to twice the pool, then hand back what has finished.
            while not exhausted and len(pending) < workers * 2:
                try:
                    name, hostvars = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(
                    pool.submit(
                        read_host, name, hostvars, command, stdin, defaults=defaults, timeout=timeout, attempts=attempts
                    )
                )
            if not pending:
                break
            finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                done += 1
                if progress is not None:
                    progress(done, result)
                yield result
