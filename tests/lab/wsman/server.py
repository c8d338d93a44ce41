# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's WS-Management server: many simulated Windows hosts behind real WinRM listeners.

Each host gets its own listeners on its own loopback address, on the standard ports (5985 HTTP,
5986 HTTPS). One acceptor thread watches every listener (``selectors``) and starts one thread per
client connection, which is what NTLM needs (its security context belongs to the TCP connection)
and what makes a long-poll Receive simple. HTTP/1.1 keep-alive with ``TCP_NODELAY``, one write per
reply, request bodies always drained and ``Content-Length`` always sent: the pitfalls listed in
``/work/shared/notes/winrm-lab.md`` section 5.

Per-host state changes apply at run time (the acceptor re-checks every host every 0.1 s, and
every request re-checks its host):

* ``faults.down`` or a reboot's ``down_until``: the host's listeners are closed (clients get
  "connection refused"), its open connections are dropped and its shells are forgotten;
* the firewall (``tests/lab/wsman/firewall.py``) is evaluated for each new connection; a blocked
  connection is reset without an answer;
* ``faults.auth_refused``, ``slow_seconds``, ``http_500``, ``operation_timeout_storm`` and
  ``drop_during_command`` are read on every request.

Usage::

    lab = LabServer([SimHost("WIN-0001", "127.201.0.10")], tls=None)   # https gets an auto-made CA
    lab.start()
    ...  # pywinrm / ansible against http://127.201.0.10:5985/wsman, CA at lab.tls.ca_path
    lab.stop()
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import ipaddress
import json
import pathlib
import resource
import selectors
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from tests.lab.host import SimHost
from tests.lab.wsman import auth as wsauth
from tests.lab.wsman import firewall, soap
from tests.lab.wsman.shells import Command, CommandResult, DropConnection, Shell, ShellService
from tests.lab.wsman.tls import TlsMaterial

SERVER_HEADER = "Microsoft-HTTPAPI/2.0"
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
MONITOR_INTERVAL = 0.1
IDLE_CONNECTION_TIMEOUT = 300.0
MAX_BODY = 64 * 1024 * 1024


class LabBindError(Exception):
    """A listener could not be opened; the message names the address:port and the cause."""


class _Listener:
    """One listening socket: a host's address on one port and scheme."""

    def __init__(self, lab: LabServer, host: SimHost, scheme: str, port: int) -> None:
        self.lab = lab
        self.host = host
        self.scheme = scheme
        self.port = port
        self.sock: socket.socket | None = None

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host.address}:{self.port}/wsman"

    def open(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            cause = {
                errno.EADDRINUSE: "the address is already in use (is another lab or WinRM listener running?)",
                errno.EADDRNOTAVAIL: "the address is not available on this machine (use 127.0.0.0/8)",
                errno.EACCES: "permission denied",
            }.get(exc.errno or 0, exc.strerror or str(exc))
            raise LabBindError(
                f"Failed to open the lab listener {self.address}:{self.port} ({self.scheme}) for host "
                f"{self.host.name}: {cause}"
            ) from exc
        self.sock = sock
        return sock


class _ConnectionHandler(http.server.BaseHTTPRequestHandler):
    """Serves the requests of one client connection (created by LabServer._serve_connection)."""

    protocol_version = "HTTP/1.1"
    server_version = SERVER_HEADER
    sys_version = ""
    timeout = IDLE_CONNECTION_TIMEOUT
    listener: _Listener
    auth: wsauth.ConnectionAuth

    def __init__(self, request: Any, client_address: Any, listener: _Listener, auth: wsauth.ConnectionAuth) -> None:
        self.listener = listener
        self.auth = auth
        super().__init__(request, client_address, listener)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the lab log records what matters; per-request logging would dominate the CPU

    # --- I/O helpers -----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError(f"request Content-Length {length} out of range")
        return self.rfile.read(length) if length else b""

    def _reply(
        self, status: int, body: bytes = b"", content_type: str | None = None, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Headers and body in one write (Nagle/delayed-ACK pitfall), Content-Length always."""
        slow = float(self.listener.host.faults.slow_seconds or 0)
        if slow > 0:
            time.sleep(slow)
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", f"Server: {SERVER_HEADER}", f"Content-Length: {len(body)}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.extend(f"{k}: {v}" for k, v in headers)
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _drop(self) -> None:
        """Close the connection without any answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    # --- methods ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._read_body()
        self._reply(405, headers=[("Allow", "POST")])

    do_PUT = do_DELETE = do_HEAD = do_GET

    def do_POST(self) -> None:
        listener = self.listener
        host = listener.host
        lab = listener.lab
        try:
            body = self._read_body()
        except (ValueError, OSError) as exc:
            lab.record("bad_request", host, level="warning", reason=str(exc))
            self.close_connection = True
            self._reply(400)
            return
        if not host.is_reachable():
            self._drop()
            return
        if self.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            self._reply(404)
            return
        authorization = self.headers.get("Authorization")
        result = self.auth.check(host, authorization)
        if result.ok and authorization and authorization.lower().startswith(("negotiate", "ntlm")):
            lab.count("ntlm_logons")
        if not result.ok:
            if not result.challenge:
                lab.record("auth_refused", host, level="info", reason=result.reason, client=self.client_address[0])
            self._reply(401, headers=result.headers)
            return
        user = result.user or ""
        encrypted = (self.headers.get("Content-Type") or "").lower().startswith("multipart/encrypted")
        lab.count(f"requests_{listener.scheme}", "requests_encrypted" if encrypted else "requests_plain")
        if encrypted:
            try:
                body = self.auth.unwrap(body)
            except wsauth.EncryptionError as exc:
                lab.record("bad_encryption", host, level="info", reason=str(exc))
                self._reply(400)
                return
        if not body:
            self._reply(200)  # pywinrm's empty authenticated POST that sets up message encryption
            return
        relates_to = "uuid:00000000-0000-0000-0000-000000000000"
        try:
            request = soap.parse_request(body)
            relates_to = request.message_id
            if host.faults.http_500:
                lab.record("fault", host, fault="http_500", action=request.action.rsplit("/", 1)[-1])
                raise soap.injected_500_fault()
            action, reply_body = lab.service(host).handle(
                request, user=user, client_ip=self.client_address[0], address=listener.url
            )
            status, payload = 200, soap.envelope(action, relates_to, reply_body)
        except soap.SoapError as exc:
            lab.record("bad_request", host, level="warning", reason=str(exc))
            fault = soap.bad_request_fault(str(exc))
            status, payload = fault.http_status, fault.envelope(relates_to, host.name)
        except soap.WsmanFault as fault:
            status, payload = fault.http_status, fault.envelope(relates_to, host.name)
        except DropConnection:
            self._drop()
            return
        except Exception as exc:  # a lab bug: answer with a fault that says so, and log it
            lab.record("error", host, level="error", reason=f"serving a request failed: {exc!r}")
            fault = soap.WsmanFault(f"hygiene.winpatch lab internal error: {exc!r}", wsman_code=soap.CODE_E_FAIL)
            status, payload = fault.http_status, fault.envelope(relates_to, host.name)
        if encrypted:
            self._reply(status, self.auth.wrap(payload), wsauth.ENCRYPTED_CONTENT_TYPE)
        else:
            self._reply(status, payload, SOAP_CONTENT_TYPE)


class LabServer:
    """Serve the WS-Management endpoints of many simulated hosts (see the module docstring).

    ``hosts``: the SimHosts, each with a unique ``name`` and loopback ``address``.
    ``http_port`` / ``https_port``: the ports every host listens on (``https_port=None``: no HTTPS).
    ``tls``: the TLS material; when None and HTTPS is on, a new lab CA is made in a temporary directory
    at ``start()`` (read it back from ``self.tls.ca_path``) and removed again at ``stop()``.
    ``log_path``: also append every lab log entry there as one JSON line.
    ``strict``: unrecognised commands and handler crashes are logged at level ``error`` (and listed by
    ``errors()``, which a test fixture should assert empty); otherwise at level ``warning``. In both
    modes the command itself fails (rc 1, CLIXML stderr): never a silent success.
    """

    def __init__(
        self,
        hosts: Iterable[SimHost],
        *,
        http_port: int = 5985,
        https_port: int | None = 5986,
        tls: TlsMaterial | None = None,
        log_path: pathlib.Path | None = None,
        strict: bool = True,
    ) -> None:
        self.http_port = http_port
        self.https_port = https_port
        self.tls = tls
        self.log_path = pathlib.Path(log_path) if log_path else None
        self.strict = strict
        self.hosts: dict[str, SimHost] = {}
        self.log: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()  # requests, encrypted, ntlm_handshakes, connections, by scheme
        self._by_address: dict[str, SimHost] = {}
        self._services: dict[str, ShellService] = {}
        self._listeners: dict[str, list[_Listener]] = {}
        self._connections: dict[str, set[socket.socket]] = {}
        self._reboot_timers: dict[str, threading.Timer] = {}
        self._lock = threading.RLock()
        self._log_lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = threading.Event()
        self._started = False
        self._owned_tls_dir: pathlib.Path | None = None  # TLS material this server made itself (removed at stop)
        for host in hosts:
            self._register(host)

    # --- public API ------------------------------------------------------------------------------
    def host_at(self, address: str) -> SimHost | None:
        """The host that listens on ``address``, if any."""
        return self._by_address.get(address)

    def service(self, host: SimHost) -> ShellService:
        """The WinRS shell service of ``host`` (shells, commands)."""
        return self._services[host.name]

    def start(self) -> None:
        """Open one listener per host address and scheme, then serve; raises LabBindError."""
        with self._lock:
            if self._started:
                return
            if self.https_port is not None and self.tls is None:
                self._owned_tls_dir = pathlib.Path(tempfile.mkdtemp(prefix="winpatch-lab-tls-"))
                self.tls = TlsMaterial.create(self._owned_tls_dir, self._by_address.keys())
            elif self.https_port is not None and self.tls is not None:
                self.tls.add_addresses(self._by_address.keys())  # no-op for addresses it already covers
            self._raise_fd_limit(len(self.hosts))
            wsauth.NTLM_USERS.register(id(self), lambda: list(self.hosts.values()))
            self._selector = selectors.DefaultSelector()
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            try:
                for host in self.hosts.values():
                    if host.is_reachable():
                        self._open_listeners(host)
            except LabBindError:
                self._close_everything()
                wsauth.NTLM_USERS.unregister(id(self))
                raise
            self._stopping.clear()
            self._started = True
            self._thread = threading.Thread(target=self._serve, name="winpatch-lab-acceptor", daemon=True)
            self._thread.start()
        self.record("started", None, hosts=len(self.hosts), http_port=self.http_port, https_port=self.https_port)

    def stop(self) -> None:
        """Close every listener and connection, cancel scheduled reboots. Safe to call twice."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            self._stopping.set()
            for timer in self._reboot_timers.values():
                timer.cancel()
            self._reboot_timers.clear()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._close_everything()
        wsauth.NTLM_USERS.unregister(id(self))
        if self._owned_tls_dir is not None:
            shutil.rmtree(self._owned_tls_dir, ignore_errors=True)
            self._owned_tls_dir, self.tls = None, None
        self.record("stopped", None)

    def add_host(self, host: SimHost) -> None:
        """Add a host (its listeners open at once if the lab is running)."""
        with self._lock:
            self._register(host)
            if self._started:
                if self.tls is not None:
                    self.tls.add_addresses([host.address])
                wsauth.NTLM_USERS.refresh()
                if host.is_reachable():
                    self._open_listeners(host)

    def errors(self) -> list[dict[str, Any]]:
        """Log entries at level ``error``: unrecognised commands (strict mode) and lab crashes."""
        with self._log_lock:
            return [e for e in self.log if e.get("level") == "error"]

    def record(self, event: str, host: SimHost | None, *, level: str = "info", **details: Any) -> dict[str, Any]:
        """Append an entry to the lab log (and to ``log_path``)."""
        entry = {"time": time.time(), "level": level, "event": event, "host": host.name if host else None}
        entry.update(details)
        with self._log_lock:
            self.log.append(entry)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, default=str) + "\n")
        return entry

    def count(self, *keys: str) -> None:
        """Bump ``stats`` counters (cheap; for assertions and the benchmark)."""
        with self._log_lock:
            self.stats.update(keys)

    def refresh_credentials(self) -> None:
        """Rewrite the NTLM credential file after hosts' users changed (also done at each handshake)."""
        wsauth.NTLM_USERS.refresh()

    # --- reboots ---------------------------------------------------------------------------------
    def schedule_reboot(self, host: SimHost, delay: float) -> bool:
        """Reboot ``host`` after ``delay`` seconds (shutdown /r /t N); False if one is already scheduled."""
        with self._lock:
            if host.name in self._reboot_timers:
                return False
            timer = threading.Timer(max(0.0, delay), self._scheduled_reboot, args=(host,))
            timer.daemon = True
            self._reboot_timers[host.name] = timer
            timer.start()
        self.record("reboot_scheduled", host, delay=delay)
        return True

    def abort_reboot(self, host: SimHost) -> bool:
        """Cancel a scheduled reboot (shutdown /a); False if none was scheduled."""
        with self._lock:
            timer = self._reboot_timers.pop(host.name, None)
        if timer is None:
            return False
        timer.cancel()
        self.record("reboot_aborted", host)
        return True

    def reboot_scheduled(self, host: SimHost) -> bool:
        with self._lock:
            return host.name in self._reboot_timers

    def _scheduled_reboot(self, host: SimHost) -> None:
        with self._lock:
            self._reboot_timers.pop(host.name, None)
        self.reboot_host(host)

    def reboot_host(self, host: SimHost, downtime: float | None = None) -> None:
        """Reboot now: SimHost.reboot() (state), then drop the host's connections and shells."""
        before = host.build
        host.reboot(downtime)
        with self._lock:
            self._close_listeners(host)
        self._take_down(host)
        self.record("reboot", host, down_until=host.down_until, build_before=before, build_after=host.build)

    # --- internals -------------------------------------------------------------------------------
    def _register(self, host: SimHost) -> None:
        try:
            loopback = ipaddress.ip_address(host.address).is_loopback
        except ValueError:
            raise ValueError(f"Failed to add lab host {host.name}: {host.address!r} is not an IP address") from None
        if not loopback:
            raise ValueError(
                f"Failed to add lab host {host.name}: address {host.address} is not a loopback address "
                "(the lab only listens on 127.0.0.0/8)"
            )
        if host.name in self.hosts:
            raise ValueError(f"Failed to add lab host {host.name}: a host with that name already exists")
        if host.address in self._by_address:
            other = self._by_address[host.address].name
            raise ValueError(f"Failed to add lab host {host.name}: address {host.address} is already used by {other}")
        self.hosts[host.name] = host
        self._by_address[host.address] = host
        self._services[host.name] = ShellService(host, self._runner_for(host), self._service_logger(host))
        listeners = [_Listener(self, host, "http", self.http_port)]
        if self.https_port is not None:
            listeners.append(_Listener(self, host, "https", self.https_port))
        self._listeners[host.name] = listeners
        self._connections[host.name] = set()

    def _runner_for(self, host: SimHost):
        def run(shell: Shell, command: Command) -> CommandResult:
            from tests.lab import dispatch

            return dispatch.run_command(host, command.command, command.arguments, bytes(command.stdin), self, shell)

        return run

    def _service_logger(self, host: SimHost):
        def log(event: str, **details: Any) -> None:
            level = "error" if event == "error" else "info"
            self.record(details.pop("event", event), host, level=level, **details)

        return log

    @staticmethod
    def _raise_fd_limit(hosts: int) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hosts * 4 + 1024
        if soft != resource.RLIM_INFINITY and soft < wanted:
            new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def _open_listeners(self, host: SimHost) -> None:
        """Open the host's listeners (in the acceptor thread or before it starts)."""
        assert self._selector is not None
        for listener in self._listeners[host.name]:
            if listener.sock is None:
                sock = listener.open()
                self._selector.register(sock, selectors.EVENT_READ, listener)

    def _close_listeners(self, host: SimHost) -> None:
        for listener in self._listeners[host.name]:
            sock, listener.sock = listener.sock, None
            if sock is not None:
                if self._selector is not None:
                    with contextlib.suppress(KeyError, ValueError):
                        self._selector.unregister(sock)
                sock.close()

    def _drop_connections(self, host: SimHost) -> None:
        with self._lock:
            conns = list(self._connections.get(host.name, ()))
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def _take_down(self, host: SimHost) -> None:
        """Host unreachable: drop its connections and shells now; the acceptor closes its listeners."""
        self._drop_connections(host)
        self._services[host.name].clear()

    def _close_everything(self) -> None:
        for host in self.hosts.values():
            self._close_listeners(host)
            self._drop_connections(host)
            self._services[host.name].clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None

    def _sync_listeners(self) -> None:
        """Open or close each host's listeners to match its reachability (down fault, reboot downtime)."""
        now = time.time()
        for host in list(self.hosts.values()):
            listeners = self._listeners[host.name]
            is_open = any(lst.sock is not None for lst in listeners)
            wanted_open = host.is_reachable(now)
            if wanted_open and not all(lst.sock is not None for lst in listeners):
                try:
                    self._open_listeners(host)
                except LabBindError as exc:
                    self.record("listener_error", host, level="error", reason=str(exc))
                    continue
                self.record("listeners_open", host)
            elif not wanted_open and is_open:
                self._close_listeners(host)
                self._take_down(host)
                self.record("listeners_closed", host, down=host.faults.down, down_until=host.down_until)

    def _serve(self) -> None:
        selector = self._selector
        assert selector is not None
        next_sync = 0.0
        while not self._stopping.is_set():
            try:
                events = selector.select(timeout=MONITOR_INTERVAL)
            except (OSError, ValueError):
                if self._stopping.is_set():
                    return
                raise
            for key, _mask in events:
                listener = key.data
                if listener is None:
                    with contextlib.suppress(OSError):
                        while key.fileobj.recv(4096):  # type: ignore[union-attr]
                            pass
                    next_sync = 0.0
                    continue
                self._accept(listener)
            now = time.monotonic()
            if now >= next_sync and not self._stopping.is_set():
                with self._lock:
                    if not self._stopping.is_set():
                        self._sync_listeners()
                next_sync = now + MONITOR_INTERVAL

    def _accept(self, listener: _Listener) -> None:
        sock = listener.sock
        if sock is None:
            return
        for _attempt in range(64):  # drain the backlog
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            threading.Thread(
                target=self._serve_connection,
                args=(conn, addr, listener),
                name=f"lab-conn-{listener.host.name}",
                daemon=True,
            ).start()

    def _serve_connection(self, conn: socket.socket, addr: Any, listener: _Listener) -> None:
        host = listener.host
        conn.setblocking(True)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            verdict = firewall.evaluate(host, addr[0], listener.port)
            if not verdict.allowed or not host.is_reachable():
                if not verdict.allowed:
                    self.record("firewall_block", host, client=addr[0], port=listener.port, reason=verdict.reason)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            cbt = None
            if listener.scheme == "https":
                assert self.tls is not None
                conn.settimeout(30)
                try:
                    conn = self.tls.context_for(host.address).wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.record("tls_error", host, level="info", reason=str(exc), client=addr[0])
                    conn.close()
                    return
                cbt = self.tls.cbt_for(host.address)
        except OSError:
            conn.close()
            return
        except Exception as exc:  # a lab bug (e.g. no certificate for the address): log it, never hang
            self.record("error", host, level="error", reason=f"accepting a connection failed: {exc!r}")
            conn.close()
            return
        with self._lock:
            self._connections[host.name].add(conn)
        self.count(f"connections_{listener.scheme}")
        try:
            _ConnectionHandler(conn, addr, listener, wsauth.ConnectionAuth(cbt))
        except (OSError, ssl.SSLError):
            pass  # the client went away or the lab dropped the connection
        except Exception as exc:
            self.record("error", host, level="error", reason=f"connection handler crashed: {exc!r}")
        finally:
            with self._lock:
                self._connections[host.name].discard(conn)
            with contextlib.suppress(OSError):
                conn.close()
