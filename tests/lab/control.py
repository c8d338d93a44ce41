# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's control API: a small JSON HTTP service on 127.0.0.1, separate from ``/wsman``.

It lets tests and people read and change the simulated hosts of one lab process:

=======  ==============================  ===============================================================
GET      ``/health``                     ``{"pid", "hosts", "started"}``
GET      ``/hosts``                      one summary per host (name, address, site, ring, release, build, ...)
GET      ``/hosts/<name>``               the full state of one host
PATCH    ``/hosts/<name>``               change state: a JSON object of fields (see :data:`PATCHABLE`)
POST     ``/hosts/<name>/reboot``        restart the host: ``{"downtime": seconds}`` (optional)
GET      ``/hosts/<name>/invocations``   every command the host ran (decoded), for assertions
GET      ``/log``                        the lab log (unrecognised commands, faults fired, reboots); ``?since=N``
=======  ==============================  ===============================================================

Errors are JSON ``{"error": "..."}`` with status 400 (bad input, nothing changed) or 404 (no such host or path).
:class:`ControlClient` talks to one or several lab processes (a sharded fleet) as if they were one.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, MutableSequence
from typing import Any

from tests.lab.host import Faults, FirewallProfile, FirewallRule, SimHost

MAX_BODY = 1 << 20
MAX_DWORD = 0xFFFFFFFF  # UBR is a REG_DWORD

# Field -> (types accepted, description). Everything else in a PATCH is refused.
PATCHABLE: dict[str, tuple[tuple[type, ...], str]] = {
    "ubr": ((int,), "the running UBR"),
    "pending_ubr": ((int, type(None)), "the UBR the next reboot makes current (null: nothing staged)"),
    "pending_reboot": ((dict,), "pending-reboot signals, e.g. {'cbs_reboot_pending': true}"),
    "installed_kbs": ((list,), "installed KB numbers"),
    "hotpatch_enrolled": ((bool,), "hotpatch enrollment"),
    "display_version": ((str,), "DisplayVersion"),
    "edition_id": ((str,), "EditionID"),
    "installation_type": ((str,), "InstallationType"),
    "product_name": ((str,), "ProductName"),
    "policy": ((dict,), "policy values to merge; null deletes a value"),
    "faults": ((dict,), "fault fields to change (see tests.lab.host.Faults)"),
    "users": ((dict,), "user -> password, replacing the users"),
    "auth_basic": ((bool,), "accept Basic auth"),
    "auth_ntlm": ((bool,), "accept NTLM auth"),
    "firewall_profiles": ((dict,), "profile -> fields of FirewallProfile to change"),
    "firewall_rules": ((list,), "the complete list of firewall rules"),
    "ring": ((str,), "the host's ring"),
}


class ControlError(Exception):
    """A control request was refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return {"size": len(value)}
    return value


def host_summary(host: SimHost, now: float | None = None) -> dict[str, Any]:
    with host.lock:
        return {
            "name": host.name,
            "address": host.address,
            "site": host.site,
            "ring": host.ring,
            "release_id": host.release_id,
            "build": host.build,
            "pending_ubr": host.pending_ubr,
            "hotpatch_enrolled": host.hotpatch_enrolled,
            "reachable": host.is_reachable(now),
            "faults": {k: v for k, v in host.faults.as_dict().items() if v and k != "reboot_downtime"},
        }


def host_state(host: SimHost) -> dict[str, Any]:
    with host.lock:
        state = {
            f.name: _jsonable(getattr(host, f.name))
            for f in dataclasses.fields(host)
            if f.name not in ("lock", "invocations", "files")
        }
        state["build"] = host.build
        state["files"] = {path: len(data) for path, data in host.files.items()}
        state["invocation_count"] = len(host.invocations)
        state["reachable"] = host.is_reachable()
        state["boot_filetime"] = host.boot_filetime
        return state


def apply_patch(host: SimHost, changes: Any) -> list[str]:
    """Validate every field first, then apply them all under the host's lock; returns the fields changed."""
    where = f"Failed to change host {host.name}"
    if not isinstance(changes, dict) or not changes:
        raise ControlError(400, f"{where}: the body must be a non-empty JSON object of fields")
    for key, value in changes.items():
        if key not in PATCHABLE:
            raise ControlError(400, f"{where}: unknown field {key!r} (fields: {', '.join(PATCHABLE)})")
        types, description = PATCHABLE[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ControlError(400, f"{where}: field {key!r} ({description}) has the wrong type {type(value).__name__}")
        if key in ("ubr", "pending_ubr") and value is not None and not 0 <= value <= MAX_DWORD:
            raise ControlError(400, f"{where}: field {key!r} ({description}) must be 0 to {MAX_DWORD}, got {value}")
    faults = changes.get("faults", {})
    known = Faults().as_dict()
    for key, value in faults.items():
        if key not in known:
            raise ControlError(400, f"{where}: unknown fault {key!r} (faults: {', '.join(known)})")
        expected = type(known[key])
        ok = (
            isinstance(value, bool)
            if expected is bool
            else isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not ok or (expected is not bool and value < 0):
            kind = "true or false" if expected is bool else "a number >= 0"
            raise ControlError(400, f"{where}: fault {key!r} must be {kind}, got {value!r}")
    profiles = changes.get("firewall_profiles", {})
    for name, fields in profiles.items():
        if name not in host.firewall_profiles or not isinstance(fields, dict):
            raise ControlError(400, f"{where}: unknown firewall profile {name!r} (Domain, Private, Public)")
        bad = set(fields) - {f.name for f in dataclasses.fields(FirewallProfile)}
        if bad:
            raise ControlError(400, f"{where}: unknown firewall profile fields {sorted(bad)}")
    rules = []
    for index, rule in enumerate(changes.get("firewall_rules", [])):
        try:
            rules.append(FirewallRule(**rule))
        except TypeError as exc:
            raise ControlError(400, f"{where}: firewall_rules[{index}]: {exc}") from None
    for key in ("users", "pending_reboot", "policy"):
        for name, value in changes.get(key, {}).items():
            allowed = {"users": (str,), "pending_reboot": (bool,), "policy": (str, int, type(None))}[key]
            if not isinstance(value, allowed):
                raise ControlError(400, f"{where}: {key}.{name} has the wrong type {type(value).__name__}")
    # Everything is valid: apply.
    with host.lock:
        for key, value in changes.items():
            if key == "faults":
                for name, setting in value.items():
                    setattr(host.faults, name, type(known[name])(setting))
            elif key == "policy":
                for name, setting in value.items():
                    if setting is None:
                        host.policy.pop(name, None)
                    else:
                        host.policy[name] = setting
            elif key == "firewall_profiles":
                for name, fields in value.items():
                    for field_name, setting in fields.items():
                        setattr(host.firewall_profiles[name], field_name, setting)
            elif key == "firewall_rules":
                host.firewall_rules = rules
            else:
                setattr(host, key, value)
        host.record("control", changes=sorted(changes))
    return sorted(changes)


class ControlServer:
    """The control API of one lab process, on ``127.0.0.1:<port>`` (port 0: any free port)."""

    def __init__(
        self,
        hosts: Mapping[str, SimHost],
        log: MutableSequence[dict[str, Any]] | None = None,
        *,
        port: int = 0,
        on_reboot: Callable[[SimHost, float | None], None] | None = None,
        on_change: Callable[[SimHost, list[str]], None] | None = None,
    ) -> None:
        self.hosts = hosts
        self.log = log if log is not None else []
        self.on_reboot = on_reboot
        self.on_change = on_change
        self.started = time.time()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ControlServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="lab-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- request handling, outside the HTTP plumbing so it is easy to follow
    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        query = urllib.parse.parse_qs(url.query)
        if method == "GET" and parts == ["health"]:
            return 200, {"pid": os.getpid(), "hosts": len(self.hosts), "started": self.started}
        if method == "GET" and parts == ["hosts"]:
            now = time.time()
            return 200, [host_summary(h, now) for h in self.hosts.values()]
        if method == "GET" and parts == ["log"]:
            since = int(query.get("since", ["0"])[0] or 0)
            return 200, _jsonable(list(self.log)[since:])
        if len(parts) >= 2 and parts[0] == "hosts":
            host = self.hosts.get(parts[1])
            if host is None:
                raise ControlError(404, f"no host named {parts[1]!r} in this lab process")
            rest = parts[2:]
            if method == "GET" and not rest:
                return 200, host_state(host)
            if method == "GET" and rest == ["invocations"]:
                with host.lock:
                    return 200, _jsonable(list(host.invocations))
            if method == "PATCH" and not rest:
                changed = apply_patch(host, body)
                if self.on_change is not None:
                    self.on_change(host, changed)
                return 200, host_state(host)
            if method == "POST" and rest == ["reboot"]:
                downtime = (body or {}).get("downtime") if isinstance(body, dict | type(None)) else "bad"
                if downtime is not None and (
                    isinstance(downtime, bool) or not isinstance(downtime, int | float) or downtime < 0
                ):
                    raise ControlError(400, f"Failed to reboot host {host.name}: downtime must be seconds >= 0")
                if self.on_reboot is not None:
                    self.on_reboot(host, downtime)
                else:
                    host.reboot(downtime)
                self.log.append({"time": time.time(), "event": "reboot", "host": host.name, "source": "control"})
                return 200, host_summary(host)
        raise ControlError(404, f"no such control endpoint: {method} {url.path}")

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        control = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = 400, None
                try:
                    if length > MAX_BODY:
                        raise ControlError(400, "request body too large")
                    raw = self.rfile.read(length) if length else b""
                    try:
                        body = json.loads(raw) if raw.strip() else None
                    except ValueError as exc:
                        raise ControlError(400, f"the body is not valid JSON: {exc}") from None
                    status, payload = control.handle(self.command, self.path, body)
                except ControlError as exc:
                    status, payload = exc.status, {"error": str(exc)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


class ControlClient:
    """A client for one or several lab processes' control APIs (a sharded fleet looks like one lab)."""

    def __init__(self, urls: str | Iterable[str], timeout: float = 10.0) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.timeout = timeout
        self._where: dict[str, str] = {}

    def _call(self, url: str, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise ControlError(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ControlError(503, f"Failed to reach the lab control API at {url}: {reason}") from None

    def _url_of(self, name: str) -> str:
        if name not in self._where:
            self.hosts()
        if name not in self._where:
            raise ControlError(404, f"no host named {name!r} in the lab")
        return self._where[name]

    def health(self) -> list[dict[str, Any]]:
        return [self._call(url, "GET", "/health") for url in self.urls]

    def hosts(self) -> list[dict[str, Any]]:
        result = []
        for url in self.urls:
            for summary in self._call(url, "GET", "/hosts"):
                self._where[summary["name"]] = url
                result.append(summary)
        return result

    def host(self, name: str) -> dict[str, Any]:
        return self._call(self._url_of(name), "GET", f"/hosts/{urllib.parse.quote(name)}")

    def patch(self, name: str, **changes: Any) -> dict[str, Any]:
        return self._call(self._url_of(name), "PATCH", f"/hosts/{urllib.parse.quote(name)}", changes)

    def reboot(self, name: str, downtime: float | None = None) -> dict[str, Any]:
        body = {} if downtime is None else {"downtime": downtime}
        return self._call(self._url_of(name), "POST", f"/hosts/{urllib.parse.quote(name)}/reboot", body)

    def invocations(self, name: str) -> list[dict[str, Any]]:
        return self._call(self._url_of(name), "GET", f"/hosts/{urllib.parse.quote(name)}/invocations")

    def log(self) -> list[dict[str, Any]]:
        entries = []
        for index, url in enumerate(self.urls):
            entries += [{**entry, "process": index} for entry in self._call(url, "GET", "/log")]
        return sorted(entries, key=lambda e: e.get("time", 0))
