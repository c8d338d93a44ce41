# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication for the lab's WS-Management endpoint: Basic and NTLM (pyspnego, server side).

NTLM state belongs to the TCP connection (requests-ntlm runs the handshake on one socket and then
sends no Authorization header any more), so one ``ConnectionAuth`` lives on each connection.
NTLM message encryption (``multipart/encrypted``, MS-WSMV 2.2.9.1.1) is handled here too, and
channel binding (CBT) over HTTPS when the host is strict (``SimHost.cbt_strict``).

pyspnego's acceptor reads credentials only from the file named by the process-wide environment
variable ``NTLM_USER_FILE``. ``NTLM_USERS`` writes that file from the users of every host of every
running ``LabServer`` in the process: one line ``HOST:user:password`` per host and user, plus one
unqualified ``:user:password`` line when that user has the same password on every host. A user
whose password differs between hosts must log on as ``HOST\\user`` (NTLM only; Basic checks the
host's own users directly).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hmac
import os
import re
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import spnego
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

if TYPE_CHECKING:
    from tests.lab.host import SimHost

ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";boundary="Encrypted Boundary"'
_BOUNDARY = b"--Encrypted Boundary"
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
_LENGTH_RE = re.compile(rb"Length=(\d+)")


class EncryptionError(Exception):
    """An encrypted request cannot be decrypted (answered with HTTP 400, as Windows does)."""


# --- NTLM_USER_FILE ------------------------------------------------------------------------------
class NtlmUserFile:
    """The process-wide NTLM credential file, rebuilt from the hosts of every registered source."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[int, Callable[[], Iterable[SimHost]]] = {}
        self._written: dict[str, frozenset[tuple[str, str]]] = {}
        self._dir: str | None = None

    @property
    def path(self) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="winpatch-lab-ntlm-")
            atexit.register(shutil.rmtree, self._dir, True)
        return os.path.join(self._dir, "ntlm_users")

    def register(self, key: int, hosts: Callable[[], Iterable[SimHost]]) -> None:
        with self._lock:
            self._sources[key] = hosts
        self.refresh()

    def unregister(self, key: int) -> None:
        with self._lock:
            self._sources.pop(key, None)
        self.refresh()

    def is_current(self, host: SimHost) -> bool:
        """Whether the file holds exactly this host's current users (cheap; checked at each handshake)."""
        return self._written.get(host.name.upper()) == _user_set(host)

    def refresh(self) -> None:
        """Rewrite the file (atomically) and point NTLM_USER_FILE at it."""
        with self._lock:
            hosts = [h for source in self._sources.values() for h in source()]
            passwords: dict[str, set[str]] = {}
            qualified: list[str] = []
            written: dict[str, frozenset[tuple[str, str]]] = {}
            for host in hosts:
                for user, password in host.users.items():
                    for what, value in (("user name", user), ("password", password)):
                        if ":" in value or "\n" in value or "\r" in value:
                            raise ValueError(
                                f"Failed to write the lab's NTLM credential file: the {what} of user {user!r} on "
                                f"host {host.name} contains ':' or a line break, which NTLM_USER_FILE cannot hold"
                            )
                    passwords.setdefault(user.lower(), set()).add(password)
                    qualified.append(f"{host.name}:{user}:{password}")
                written[host.name.upper()] = _user_set(host)
            lines = [f":{user}:{next(iter(pw))}" for user, pw in passwords.items() if len(pw) == 1]
            path = self.path
            tmp = f"{path}.{os.getpid()}.{threading.get_ident()}"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines + qualified) + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            self._written = written
            os.environ["NTLM_USER_FILE"] = path


def _user_set(host: SimHost) -> frozenset[tuple[str, str]]:
    return frozenset(host.users.items())


NTLM_USERS = NtlmUserFile()


# --- per-connection authentication ---------------------------------------------------------------
@dataclass
class AuthResult:
    """The outcome of checking one request's credentials."""

    user: str | None  # the host's local user name when authenticated
    headers: list[tuple[str, str]] = field(default_factory=list)  # extra reply headers (WWW-Authenticate)
    reason: str = ""  # why the request was refused (lab log)
    challenge: bool = False  # a 401 that is a normal handshake leg, not a refusal

    @property
    def ok(self) -> bool:
        return self.user is not None


def find_user(host: SimHost, login: str) -> str | None:
    """The host's user that ``login`` names: ``user``, ``.\\user``, ``HOST\\user`` or ``user@HOST``."""
    domain, user = "", login
    if "\\" in login:
        domain, user = login.split("\\", 1)
    elif "@" in login:
        user, domain = login.split("@", 1)
    if domain not in ("", ".") and domain.upper() != host.name.upper():
        return None
    for name in host.users:
        if name.lower() == user.lower():
            return name
    return None


def challenge_headers(host: SimHost) -> list[tuple[str, str]]:
    headers = []
    if host.auth_ntlm:
        headers.append(("WWW-Authenticate", "Negotiate"))
    if host.auth_basic:
        headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
    return headers


class ConnectionAuth:
    """Authentication state of one client connection."""

    def __init__(self, cbt_application_data: bytes | None = None) -> None:
        self._cbt = cbt_application_data
        self._ntlm: Any = None  # pyspnego acceptor of the current / last handshake
        self._ntlm_user: str | None = None  # set once an NTLM handshake on this connection succeeded

    @property
    def encrypted(self) -> bool:
        """Whether an NTLM security context exists that can seal and unseal messages."""
        return self._ntlm_user is not None

    def check(self, host: SimHost, authorization: str | None) -> AuthResult:
        refused = host.faults.auth_refused
        if refused:
            self._ntlm_user = None
        if not authorization:
            if self._ntlm_user is not None:
                if find_user(host, self._ntlm_user) is None:
                    self._ntlm_user = None
                    return AuthResult(None, challenge_headers(host), "user removed")
                return AuthResult(self._ntlm_user)
            return AuthResult(None, challenge_headers(host), "no credentials", challenge=True)
        scheme, _sep, token = authorization.strip().partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic":
            result = self._basic(host, token.strip())
        elif scheme_l in ("negotiate", "ntlm"):
            result = self._negotiate(host, scheme, token.strip())
        else:
            return AuthResult(None, challenge_headers(host), f"unsupported authorization scheme {scheme!r}")
        if refused and result.ok:  # the handshake runs as usual; the final answer is a refusal
            self._ntlm, self._ntlm_user = None, None
            return AuthResult(None, challenge_headers(host), "auth_refused fault")
        return result

    def _basic(self, host: SimHost, token: str) -> AuthResult:
        if not host.auth_basic:
            return AuthResult(None, challenge_headers(host), "Basic authentication is disabled on this host")
        try:
            login, _sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(None, challenge_headers(host), "malformed Basic credentials")
        user = find_user(host, login)
        if user is None or not hmac.compare_digest(host.users[user].encode(), password.encode()):
            return AuthResult(None, challenge_headers(host), f"wrong user name or password for {login!r}")
        return AuthResult(user)

    def _negotiate(self, host: SimHost, scheme: str, token: str) -> AuthResult:
        if not host.auth_ntlm:
            return AuthResult(None, challenge_headers(host), "NTLM authentication is disabled on this host")
        try:
            raw = base64.b64decode(token, validate=True)
        except binascii.Error:
            return AuthResult(None, challenge_headers(host), "malformed Negotiate token")
        if raw.startswith(b"NTLMSSP\x00") and len(raw) >= 12:
            message_type = struct.unpack("<I", raw[8:12])[0]
        else:
            return AuthResult(None, challenge_headers(host), "the Negotiate token is not raw NTLM (SPNEGO/Kerberos)")
        if message_type == 1:
            if not NTLM_USERS.is_current(host):
                NTLM_USERS.refresh()
            bindings = None
            if self._cbt is not None and host.cbt_strict:
                bindings = GssChannelBindings(application_data=self._cbt)
            self._ntlm_user = None
            self._ntlm = spnego.server(
                protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm, channel_bindings=bindings
            )
            try:
                challenge = self._ntlm.step(raw)
            except SpnegoError as exc:
                self._ntlm = None
                return AuthResult(None, challenge_headers(host), f"NTLM negotiate rejected: {exc}")
            out = base64.b64encode(challenge or b"").decode("ascii")
            return AuthResult(None, [("WWW-Authenticate", f"{scheme} {out}")], "NTLM challenge", challenge=True)
        if message_type == 3:
            ctx, self._ntlm = self._ntlm, None
            if ctx is None:
                return AuthResult(None, challenge_headers(host), "NTLM authenticate without a negotiate first")
            try:
                ctx.step(raw)
            except SpnegoError as exc:
                return AuthResult(None, challenge_headers(host), f"NTLM authentication failed: {exc}")
            principal = str(ctx.client_principal or "")
            user = find_user(host, principal)
            if user is None:
                return AuthResult(None, challenge_headers(host), f"{principal!r} is not a user of {host.name}")
            self._ntlm = ctx
            self._ntlm_user = user
            return AuthResult(user)
        return AuthResult(None, challenge_headers(host), f"unexpected NTLM message type {message_type}")

    # --- message encryption ----------------------------------------------------------------------
    def unwrap(self, body: bytes) -> bytes:
        """Decrypt a ``multipart/encrypted`` request body; raises EncryptionError."""
        if self._ntlm is None or self._ntlm_user is None:
            raise EncryptionError("encrypted request on a connection without an NTLM security context")
        match = _LENGTH_RE.search(body)
        start = body.find(_OCTET)
        if match is None or start < 0:
            raise EncryptionError("encrypted request body lacks its Length= or octet-stream part")
        length = int(match.group(1))
        offset = start + len(_OCTET)
        if len(body) < offset + 4:
            raise EncryptionError("encrypted request body is truncated")
        sig_len = struct.unpack("<I", body[offset : offset + 4])[0]
        header = body[offset + 4 : offset + 4 + sig_len]
        sealed = body[offset + 4 + sig_len : offset + 4 + sig_len + length]
        if len(header) != sig_len or len(sealed) != length:
            raise EncryptionError("encrypted request body is shorter than its Length=")
        try:
            return bytes(self._ntlm.unwrap_winrm(header, sealed))
        except SpnegoError as exc:
            raise EncryptionError(f"cannot unseal the request (wrong security context?): {exc}") from None

    def wrap(self, body: bytes) -> bytes:
        """Encrypt a reply body in the same framing (the Content-Type is ENCRYPTED_CONTENT_TYPE)."""
        result = self._ntlm.wrap_winrm(body)
        return (
            _BOUNDARY + b"\r\n\tContent-Type: " + ENCRYPTED_PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(body)).encode()
            + b"\r\n"
            + _BOUNDARY
            + b"\r\n"
            + _OCTET
            + struct.pack("<I", len(result.header))
            + result.header
            + result.data
            + _BOUNDARY
            + b"--\r\n"
        )
