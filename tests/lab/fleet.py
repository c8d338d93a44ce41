# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet files: a YAML description of a simulated Windows fleet, validated and turned into ``SimHost`` objects.

A fleet names its sites (one loopback /24 each), its rings, the releases and their weights, a build distribution in
months behind that is drawn from the collection's real catalog (``data/catalog.json``), credentials, auth settings and
faults. Generation is deterministic: the same file and seed always give the same hosts, addresses and builds, so the
processes of a sharded lab and the inventory writer agree without talking to each other.

Counts are apportioned exactly (largest remainder), then shuffled with the fleet's seed: ``builds: {latest: 70,
"1": 30}`` over 10 hosts gives exactly 7 and 3. "Months behind" counts calendar months back from the release's own
newest B (Patch Tuesday) update in the catalog; when a release has no B update in the target month, the newest one
before it is used. The format is described in ``tests/lab/README.md``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import pathlib
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import Catalog, CatalogRelease, Update
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES
from tests.lab.host import CURRENT_VERSION_KEY, Faults, SimHost

DEFAULT_USER = "winpatch"
DEFAULT_PASSWORD = "Lab-Passw0rd!"
FIRST_HOST_OCTET = 10  # .1-.9 stay free in every site (gateways, the controller, ...)
LAST_HOST_OCTET = 254
SITE_CAPACITY = LAST_HOST_OCTET - FIRST_HOST_OCTET + 1
TRANSPORTS = ("basic", "ntlm")
SCHEMES = ("http", "https")
FAULT_FIELDS = tuple(Faults().as_dict())
PENDING_FLAGS = ("cbs_reboot_pending", "wu_reboot_required", "pending_file_rename", "pending_computer_rename")
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_RELEASE_RE = re.compile(r"^[a-z0-9_]+$")


class FleetError(ValueError):
    """A fleet file (or mapping) is malformed; the message names the source and the field."""


@dataclass(frozen=True)
class Edition:
    edition_id: str
    product_name: str
    weight: int = 1
    hotpatch: bool = False  # this edition can be enrolled in hotpatch


@dataclass(frozen=True)
class Flavor:
    """How a release shows itself in the registry, beyond its build."""

    display_version: str | None  # None: the value does not exist (before 20H2)
    release_id_value: str  # ReleaseId; frozen at 2009 from 20H2 on
    editions: tuple[Edition, ...]
    family: str = "client"
    build_major: int = 0  # only for retired releases (the catalog knows the others)


def _client(display: str | None, release_id_value: str, *editions: Edition, build_major: int = 0) -> Flavor:
    return Flavor(display, release_id_value, editions, "client", build_major)


def _server(display: str | None, release_id_value: str, *editions: Edition, build_major: int = 0) -> Flavor:
    return Flavor(display, release_id_value, editions, "server", build_major)


# The registry face of every release. Windows 11 keeps "Windows 10" in ProductName; LTSC editions end in S.
FLAVORS: dict[str, Flavor] = {
    "windows_10_1607": _client(
        None,
        "1607",
        Edition("EnterpriseS", "Windows 10 Enterprise 2016 LTSB", 3),
        Edition("IoTEnterpriseS", "Windows 10 IoT Enterprise 2016 LTSB", 1),
    ),
    "windows_10_1809": _client(
        None,
        "1809",
        Edition("EnterpriseS", "Windows 10 Enterprise LTSC 2019", 3),
        Edition("IoTEnterpriseS", "Windows 10 IoT Enterprise LTSC 2019", 1),
    ),
    "windows_10_21h2": _client(
        "21H2",
        "2009",
        Edition("EnterpriseS", "Windows 10 Enterprise LTSC 2021", 3),
        Edition("IoTEnterpriseS", "Windows 10 IoT Enterprise LTSC 2021", 1),
    ),
    "windows_10_22h2": _client(
        "22H2",
        "2009",
        Edition("Professional", "Windows 10 Pro", 3),
        Edition("Enterprise", "Windows 10 Enterprise", 2),
        Edition("Education", "Windows 10 Education", 1),
    ),
    "windows_11_21h2": _client(
        "21H2", "2009", Edition("Professional", "Windows 10 Pro", 2), Edition("Enterprise", "Windows 10 Enterprise", 1)
    ),
    "windows_11_22h2": _client(
        "22H2", "2009", Edition("Professional", "Windows 10 Pro", 2), Edition("Enterprise", "Windows 10 Enterprise", 1)
    ),
    "windows_11_23h2": _client(
        "23H2",
        "2009",
        Edition("Professional", "Windows 10 Pro", 2),
        Edition("Enterprise", "Windows 10 Enterprise", 2),
        Edition("Education", "Windows 10 Education", 1),
    ),
    "windows_11_24h2": _client(
        "24H2",
        "2009",
        Edition("Professional", "Windows 10 Pro", 4),
        Edition("Enterprise", "Windows 10 Enterprise", 4, hotpatch=True),
        Edition("EnterpriseS", "Windows 10 Enterprise LTSC 2024", 1),
        Edition("IoTEnterpriseS", "Windows 10 IoT Enterprise LTSC 2024", 1),
    ),
    "windows_11_25h2": _client(
        "25H2",
        "2009",
        Edition("Professional", "Windows 10 Pro", 2),
        Edition("Enterprise", "Windows 10 Enterprise", 2, hotpatch=True),
    ),
    "windows_11_26h1": _client(
        "26H1", "2009", Edition("Professional", "Windows 10 Pro", 1), Edition("Enterprise", "Windows 10 Enterprise", 1)
    ),
    "windows_server_2016": _server(
        None,
        "1607",
        Edition("ServerStandard", "Windows Server 2016 Standard", 2),
        Edition("ServerDatacenter", "Windows Server 2016 Datacenter", 1),
    ),
    "windows_server_2019": _server(
        None,
        "1809",
        Edition("ServerStandard", "Windows Server 2019 Standard", 2),
        Edition("ServerDatacenter", "Windows Server 2019 Datacenter", 1),
    ),
    "windows_server_2022": _server(
        "21H2",
        "2009",
        Edition("ServerStandard", "Windows Server 2022 Standard", 3),
        Edition("ServerDatacenter", "Windows Server 2022 Datacenter", 2),
        Edition("ServerTurbine", "Windows Server 2022 Datacenter: Azure Edition", 1, hotpatch=True),
    ),
    "windows_server_23h2": _server("23H2", "2009", Edition("ServerDatacenter", "Windows Server Datacenter", 1)),
    "windows_server_2025": _server(
        "24H2",
        "2009",
        Edition("ServerStandard", "Windows Server 2025 Standard", 2, hotpatch=True),
        Edition("ServerDatacenter", "Windows Server 2025 Datacenter", 1, hotpatch=True),
    ),
    # Retired releases are not in the catalog; hosts on them need an explicit build.
    "windows_10_1909": _client(
        None,
        "1909",
        Edition("Professional", "Windows 10 Pro", 1),
        Edition("Enterprise", "Windows 10 Enterprise", 1),
        build_major=18363,
    ),
    "windows_10_20h2": _client(
        "20H2",
        "2009",
        Edition("Professional", "Windows 10 Pro", 1),
        Edition("Enterprise", "Windows 10 Enterprise", 1),
        build_major=19042,
    ),
    "windows_10_21h1": _client(
        "21H1",
        "2009",
        Edition("Professional", "Windows 10 Pro", 1),
        Edition("Enterprise", "Windows 10 Enterprise", 1),
        build_major=19043,
    ),
}


@dataclass
class Site:
    name: str
    network: ipaddress.IPv4Network
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    transport: str = "ntlm"  # what the inventory tells clients to use
    scheme: str = "http"
    auth: tuple[str, ...] = TRANSPORTS  # what the hosts accept

    def address(self, index: int) -> str:
        return str(self.network.network_address + FIRST_HOST_OCTET + index)


@dataclass
class Fleet:
    """A validated fleet: its sites and its hosts, in address order within each site."""

    name: str
    seed: int
    source: str
    sites: dict[str, Site]
    hosts: list[SimHost]
    catalog: Catalog | None = None
    rings: tuple[str, ...] = ()

    def host(self, name: str) -> SimHost | None:
        return self._index().get(name)

    def _index(self) -> dict[str, SimHost]:
        # built on first use, rebuilt if hosts were added since
        index = self.__dict__.get("_by_name")
        if index is None or len(index) != len(self.hosts):
            index = self.__dict__["_by_name"] = {h.name: h for h in self.hosts}
        return index

    def shard(self, index: int, count: int) -> list[SimHost]:
        """The hosts of shard ``index`` of ``count`` (contiguous blocks, so a site mostly stays in one process)."""
        if count < 1 or not 0 <= index < count:
            raise FleetError(f"{self.source}: shard {index} of {count} does not exist")
        size, extra = divmod(len(self.hosts), count)
        start = index * size + min(index, extra)
        return self.hosts[start : start + size + (1 if index < extra else 0)]

    def site_of(self, host: SimHost) -> Site:
        return self.sites[host.site]

    def host_vars(self, host: SimHost, *, ca_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The Ansible connection variables for ``host`` (names as in docs/developing.md)."""
        site = self.sites[host.site]
        https = site.scheme == "https"
        hostvars: dict[str, Any] = {
            "ansible_host": host.address,
            "ansible_port": 5986 if https else 5985,
            "ansible_user": site.user,
            "ansible_password": site.password,
            "ansible_connection": "winrm",
            "ansible_winrm_transport": site.transport,
            "ansible_winrm_scheme": site.scheme,
        }
        if https:
            if ca_path:
                hostvars["ansible_winrm_server_cert_validation"] = "validate"
                hostvars["ansible_winrm_ca_trust_path"] = str(ca_path)
            else:
                hostvars["ansible_winrm_server_cert_validation"] = "ignore"
        hostvars["winpatch_site"] = host.site
        hostvars["winpatch_ring"] = host.ring
        return hostvars

    def inventory(self, *, ca_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """An Ansible inventory (the YAML inventory structure): group ``lab`` with every host, plus one group per
        site (``site_<name>``) and per ring (``ring_<name>``)."""
        hosts = {h.name: self.host_vars(h, ca_path=ca_path) for h in self.hosts}
        children: dict[str, Any] = {"lab": {"hosts": hosts}}
        for site in self.sites:
            children[group_name("site", site)] = {"hosts": {h.name: None for h in self.hosts if h.site == site}}
        for ring in sorted({h.ring for h in self.hosts}):
            children[group_name("ring", ring)] = {"hosts": {h.name: None for h in self.hosts if h.ring == ring}}
        return {"all": {"children": children}}

    def inventory_text(self, fmt: str = "yaml", *, ca_path: str | os.PathLike[str] | None = None) -> str:
        inv = self.inventory(ca_path=ca_path)
        if fmt == "yaml":
            header = f"# Lab inventory for fleet {self.name!r} ({len(self.hosts)} hosts), written by tests.lab\n"
            return header + yaml.safe_dump(inv, sort_keys=False, default_flow_style=False)
        if fmt == "ini":
            return _inventory_ini(self, inv)
        raise FleetError(f"inventory format must be ini or yaml, got {fmt!r}")


def group_name(kind: str, value: str) -> str:
    return f"{kind}_" + re.sub(r"[^a-zA-Z0-9_]", "_", value)


def _ini_value(value: Any) -> str:
    text = str(value)
    if re.search(r"[\s#;'\"=]", text):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def _inventory_ini(fleet: Fleet, inv: dict[str, Any]) -> str:
    lines = [f"# Lab inventory for fleet {fleet.name!r} ({len(fleet.hosts)} hosts), written by tests.lab", "[lab]"]
    for name, hostvars in inv["all"]["children"]["lab"]["hosts"].items():
        lines.append(name + " " + " ".join(f"{k}={_ini_value(v)}" for k, v in hostvars.items()))
    for group, body in inv["all"]["children"].items():
        if group == "lab":
            continue
        lines += ["", f"[{group}]", *body["hosts"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Validation helpers. Every error names the source and the field path, e.g. "fleet.yml: sites[1].subnet: ...".


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, msg: str) -> FleetError:
        return FleetError(f"{self.source}: {where}: {msg}" if where else f"{self.source}: {msg}")

    def mapping(self, value: Any, where: str, keys: Iterable[str], required: Iterable[str] = ()) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, got {_kind(value)}")
        allowed = tuple(keys)
        for key in value:
            if key not in allowed:
                raise self.fail(where, f"unknown key {key!r} (expected one of: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing required key {key!r}")
        return value

    def string(self, value: Any, where: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string, got {_kind(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(where, f"{value!r} is not {hint}")
        return value

    def integer(self, value: Any, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(where, f"must be at most {maximum}, got {value}")
        return value

    def number(self, value: Any, where: str, minimum: float = 0.0, maximum: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, got {_kind(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise self.fail(where, f"must be {bounds}, got {value}")
        return float(value)

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {_kind(value)}")
        return value

    def choice(self, value: Any, where: str, choices: Sequence[str]) -> str:
        if value not in choices:
            raise self.fail(where, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def weights(self, value: Any, where: str) -> dict[str, float]:
        if not isinstance(value, Mapping) or not value:
            raise self.fail(where, f"must be a non-empty mapping of name to weight, got {_kind(value)}")
        result = {str(k): self.number(v, f"{where}.{k}") for k, v in value.items()}
        if not any(result.values()):
            raise self.fail(where, "the weights add up to 0")
        return result


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"a {type(value).__name__}"


def apportion(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder; ties by key order)."""
    items = [(k, w) for k, w in weights.items() if w > 0]
    weight_sum = sum(weight for _key, weight in items)
    if total <= 0 or not items:
        return {k: 0 for k in weights}
    exact = [(k, total * w / weight_sum) for k, w in items]
    counts = {k: int(share) for k, share in exact}
    left = total - sum(counts.values())
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - int(exact[i][1])), i))
    for i in order[:left]:
        counts[exact[i][0]] += 1
    return {k: counts.get(k, 0) for k in weights}


def _spread(rng: random.Random, counts: Mapping[str, int]) -> list[str]:
    values = [k for k, n in counts.items() for _copy in range(n)]
    rng.shuffle(values)
    return values


def _month_minus(month: str, months: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# ---------------------------------------------------------------------------------------------------------------
# Loading


_TOP_KEYS = (
    "name",
    "seed",
    "month",
    "catalog",
    "defaults",
    "sites",
    "rings",
    "releases",
    "builds",
    "editions",
    "hotpatch",
    "pending_reboot",
    "server_core",
    "faults",
    "hosts",
)
_SITE_SETTINGS = ("user", "password", "transport", "scheme", "auth", "policy", "reboot_downtime")
_SITE_KEYS = ("name", "subnet", "count", "releases", "builds", *_SITE_SETTINGS)
_HOST_KEYS = (
    "name",
    "site",
    "ring",
    "release",
    "edition",
    "installation_type",
    "months_behind",
    "build",
    "hotpatch",
    "pending_reboot",
    "faults",
    "policy",
    "registry",
)
_FAULT_RULE_KEYS = ("hosts", "site", "fraction", "count", "set")


def load_fleet(
    fleet: str | os.PathLike[str] | Mapping[str, Any],
    *,
    second_octet: int | None = None,
    catalog: Catalog | None = None,
    source: str | None = None,
) -> Fleet:
    """Read, validate and generate a fleet from a YAML file or an already-decoded mapping.

    ``second_octet`` moves every site to ``127.<second_octet>.<third>.0/24`` (the pytest fixture picks a free one per
    session). ``catalog`` overrides the catalog named in the file (default: the collection's ``data/catalog.json``).
    Raises :class:`FleetError` naming the field for any malformed input.
    """
    base_dir = pathlib.Path.cwd()
    if isinstance(fleet, Mapping):
        data: Any = fleet
        source = source or "<fleet>"
    else:
        path = pathlib.Path(fleet)
        source = source or str(fleet)
        base_dir = path.resolve().parent
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FleetError(f"{source}: cannot read the fleet file: {exc.strerror or exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise FleetError(f"{source}: not valid YAML{where}: {problem}") from None
    return _Builder(_Ctx(source), data, base_dir, second_octet, catalog).build()


class _Builder:
    def __init__(
        self, ctx: _Ctx, data: Any, base_dir: pathlib.Path, second_octet: int | None, catalog: Catalog | None
    ) -> None:
        self.ctx = ctx
        self.data = ctx.mapping(data, "", _TOP_KEYS, required=("sites",))
        self.base_dir = base_dir
        self.second_octet = second_octet
        self.catalog = catalog
        self.seed = ctx.integer(self.data.get("seed", 0), "seed")
        self.month = self._month(self.data.get("month"))
        self.edition_weights = self._editions(self.data.get("editions", {}))

    def _month(self, value: Any) -> str | None:
        """The fleet's current month (YYYY-MM): months behind count back from it. None: each release's newest."""
        if value is None:
            return None
        text = self.ctx.string(value, "month")
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
            raise self.ctx.fail("month", f"{text!r} is not a month like 2026-05")
        return text

    # --- the whole fleet
    def build(self) -> Fleet:
        ctx, data = self.ctx, self.data
        name = ctx.string(data.get("name", "fleet"), "name")
        if self.second_octet is not None:
            ctx.integer(self.second_octet, "second_octet", 1, 254)
        defaults = self._settings(data.get("defaults", {}), "defaults", {})
        releases = self._releases(data.get("releases", {"windows_11_24h2": 1}), "releases")
        builds = self._builds(data.get("builds", {"latest": 1}), "builds")
        fractions = {
            key: ctx.number(data.get(key, 0.0), key, 0.0, 1.0) for key in ("hotpatch", "pending_reboot", "server_core")
        }
        if self.catalog is None:
            self.catalog = self._load_catalog(data.get("catalog"))
        raw_sites = data["sites"]
        if not isinstance(raw_sites, list) or not raw_sites:
            raise ctx.fail("sites", f"must be a non-empty list of sites, got {_kind(raw_sites)}")
        explicit = self._explicit_hosts(data.get("hosts", []))
        sites: dict[str, Site] = {}
        networks: dict[ipaddress.IPv4Network, str] = {}
        hosts: list[SimHost] = []
        for index, raw in enumerate(raw_sites):
            where = f"sites[{index}]"
            site_map = ctx.mapping(raw, where, _SITE_KEYS, required=("name", "subnet"))
            site_name = ctx.string(site_map["name"], f"{where}.name", _NAME_RE, "a site name (a-z, 0-9, -)")
            if site_name in sites:
                raise ctx.fail(f"{where}.name", f"site {site_name!r} is defined twice")
            network = self._subnet(site_map["subnet"], f"{where}.subnet")
            if network in networks:
                raise ctx.fail(f"{where}.subnet", f"{network} is already used by site {networks[network]!r}")
            networks[network] = site_name
            settings = self._settings(site_map, where, defaults)
            site = Site(
                site_name,
                network,
                settings["user"],
                settings["password"],
                settings["transport"],
                settings["scheme"],
                settings["auth"],
            )
            sites[site_name] = site
            # The lab's NTLM acceptor reads one process-wide credential file (NTLM_USER_FILE) in which a user name
            # can carry only one password; refuse what would make NTLM fail for every host.
            for other in sites.values():
                if other.user.lower() == site.user.lower() and other.password != site.password:
                    raise ctx.fail(
                        f"{where}.password",
                        f"user {site.user!r} already has another password in site {other.name!r}; the lab's NTLM "
                        "needs one password per user name across the fleet (use another user name)",
                    )
            count = ctx.integer(site_map.get("count", 0), f"{where}.count", 0)
            own = [h for h in explicit if h[1]["site"] == site_name]
            if count + len(own) > SITE_CAPACITY:
                raise ctx.fail(
                    f"{where}.count",
                    f"{count} generated + {len(own)} listed hosts do not fit in {network} "
                    f"(at most {SITE_CAPACITY} addresses, .{FIRST_HOST_OCTET}-.{LAST_HOST_OCTET})",
                )
            site_releases = (
                self._releases(site_map["releases"], f"{where}.releases") if "releases" in site_map else None
            )
            site_builds = self._builds(site_map["builds"], f"{where}.builds") if "builds" in site_map else None
            rng = random.Random(f"{self.seed}:{site_name}")
            site_hosts = [
                self._explicit_host(site, i, spec_where, spec, settings) for i, (spec_where, spec) in enumerate(own)
            ]
            site_hosts += self._generate(
                site, len(own), count, site_releases or releases, site_builds or builds, fractions, settings, rng
            )
            hosts.extend(site_hosts)
        for spec_where, spec in explicit:
            if spec["site"] not in sites:
                raise ctx.fail(f"{spec_where}.site", f"no site named {spec['site']!r} (sites: {', '.join(sites)})")
        names: dict[str, str] = {}
        for host in hosts:
            if host.name in names:
                raise ctx.fail("hosts", f"host name {host.name!r} is used twice")
            names[host.name] = host.site
        rings = self._assign_rings(data.get("rings", {"broad": "rest"}), hosts, explicit)
        self._apply_faults(data.get("faults", []), hosts, sites)
        return Fleet(name, self.seed, self.ctx.source, sites, hosts, self.catalog, rings)

    def _load_catalog(self, value: Any) -> Catalog:
        # Imported here so a fleet mapping can be validated in tests that pass their own catalog.
        from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import load_catalog
        from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError

        path = None
        if value is not None:
            path = pathlib.Path(self.ctx.string(value, "catalog"))
            if not path.is_absolute():
                path = self.base_dir / path
        try:
            return load_catalog(path)
        except CatalogError as exc:
            raise self.ctx.fail("catalog", str(exc)) from None

    # --- pieces
    def _subnet(self, value: Any, where: str) -> ipaddress.IPv4Network:
        network = None
        if isinstance(value, str):
            try:
                network = ipaddress.IPv4Network(value, strict=True)
            except ValueError:
                network = None
        if network is None or network.prefixlen != 24 or not network.is_loopback:
            raise self.ctx.fail(where, f"{value!r} is not a /24 on loopback (like 127.10.1.0/24)")
        second = network.network_address.packed[1]
        if self.second_octet is not None:
            third = network.network_address.packed[2]
            network = ipaddress.IPv4Network(f"127.{self.second_octet}.{third}.0/24")
        elif second == 0:
            raise self.ctx.fail(where, f"{value!r} is reserved: 127.0.0.0/24 holds the machine's own services")
        return network

    def _settings(self, raw: Any, where: str, inherited: Mapping[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        if where == "defaults":
            raw = ctx.mapping(raw, where, _SITE_SETTINGS)
        settings = {
            "user": DEFAULT_USER,
            "password": DEFAULT_PASSWORD,
            "transport": "ntlm",
            "scheme": "http",
            "auth": TRANSPORTS,
            "policy": {},
            "reboot_downtime": Faults().reboot_downtime,
            **inherited,
        }
        prefix = f"{where}." if where else ""
        if "user" in raw:
            settings["user"] = ctx.string(raw["user"], f"{prefix}user")
        if "password" in raw:
            settings["password"] = ctx.string(raw["password"], f"{prefix}password")
        if "transport" in raw:
            settings["transport"] = ctx.choice(raw["transport"], f"{prefix}transport", TRANSPORTS)
        if "scheme" in raw:
            settings["scheme"] = ctx.choice(raw["scheme"], f"{prefix}scheme", SCHEMES)
        if "auth" in raw:
            auth = raw["auth"]
            if not isinstance(auth, list) or not auth:
                raise ctx.fail(f"{prefix}auth", f"must be a non-empty list of basic/ntlm, got {_kind(auth)}")
            settings["auth"] = tuple(ctx.choice(a, f"{prefix}auth[{i}]", TRANSPORTS) for i, a in enumerate(auth))
        if "policy" in raw:
            settings["policy"] = dict(ctx.mapping(raw["policy"], f"{prefix}policy", _POLICY_VALUES))
        if "reboot_downtime" in raw:
            settings["reboot_downtime"] = ctx.number(raw["reboot_downtime"], f"{prefix}reboot_downtime", 0.0, 3600.0)
        if settings["transport"] not in settings["auth"]:
            raise ctx.fail(
                f"{prefix}transport",
                f"{settings['transport']!r} is not among the auth schemes the hosts accept "
                f"({', '.join(settings['auth'])})",
            )
        return settings

    def _releases(self, value: Any, where: str) -> dict[str, float]:
        weights = self.ctx.weights(value, where)
        for release_id in weights:
            if release_id not in RELEASES:
                known = ", ".join(sorted(RELEASES))
                raise self.ctx.fail(f"{where}.{release_id}", f"unknown release (known: {known})")
        return weights

    def _builds(self, value: Any, where: str) -> dict[int, float]:
        weights = self.ctx.weights(value, where)
        result: dict[int, float] = {}
        for key, weight in weights.items():
            if key == "latest":
                months = 0
            elif key.isdigit() and int(key) <= 120:
                months = int(key)
            else:
                raise self.ctx.fail(f"{where}.{key}", "must be 'latest' or a number of months behind (0-120)")
            if months in result:
                raise self.ctx.fail(f"{where}.{key}", f"{months} months behind is listed twice")
            result[months] = weight
        return result

    def _editions(self, value: Any) -> dict[str, dict[str, float]]:
        """Per release, EditionID weights replacing the defaults in FLAVORS."""
        if not isinstance(value, Mapping):
            raise self.ctx.fail("editions", f"must map release ids to EditionID weights, got {_kind(value)}")
        result = {}
        for release_id, weights in value.items():
            where = f"editions.{release_id}"
            if release_id not in FLAVORS:
                raise self.ctx.fail(where, f"unknown release (known: {', '.join(sorted(FLAVORS))})")
            parsed = self.ctx.weights(weights, where)
            known = [e.edition_id for e in FLAVORS[release_id].editions]
            for edition_id in parsed:
                if edition_id not in known:
                    raise self.ctx.fail(f"{where}.{edition_id}", f"not an edition of {release_id} ({', '.join(known)})")
            result[release_id] = parsed
        return result

    def _explicit_hosts(self, value: Any) -> list[tuple[str, Mapping[str, Any]]]:
        if not isinstance(value, list):
            raise self.ctx.fail("hosts", f"must be a list of hosts, got {_kind(value)}")
        specs = []
        for index, raw in enumerate(value):
            where = f"hosts[{index}]"
            spec = self.ctx.mapping(raw, where, _HOST_KEYS, required=("name", "site", "release"))
            self.ctx.string(spec["name"], f"{where}.name", _NAME_RE, "a host name (a-z, 0-9, -; at most 40)")
            self.ctx.string(spec["site"], f"{where}.site")
            specs.append((where, spec))
        return specs

    # --- hosts
    def _release_updates(self, release_id: str) -> CatalogRelease | None:
        assert self.catalog is not None
        return self.catalog.release(release_id)

    def _pick_build(self, release: CatalogRelease, months_behind: int, where: str) -> tuple[Update, Update | None]:
        """The B update ``months_behind`` months before the fleet's month (or the release's newest, if older), and the
        next newer B update (for a staged install)."""
        security = [u for u in release.updates if u.kind == "B"]
        if not security:
            raise self.ctx.fail(where, f"the catalog has no B update for {release.release_id}")
        newest = security[-1].month if self.month is None else min(security[-1].month, self.month)
        target = _month_minus(newest, months_behind)
        chosen = next((u for u in reversed(security) if u.month <= target), security[0])
        newer = next((u for u in security if u.date > chosen.date and u.month <= newest), None)
        return chosen, newer

    def _hotpatch_update(self, release: CatalogRelease, month: str) -> Update | None:
        """The newest hotpatch update released in ``month`` or before (hotpatch months carry their own UBR)."""
        patches = [u for u in release.updates if u.kind == "HOTPATCH" and u.month <= month]
        return patches[-1] if patches else None

    def _new_host(
        self,
        site: Site,
        index: int,
        name: str,
        release_id: str,
        edition: Edition,
        installation_type: str,
        settings: Mapping[str, Any],
    ) -> SimHost:
        flavor = FLAVORS[release_id]
        info = RELEASES.get(release_id)
        host = SimHost(
            name=name,
            address=site.address(index),
            site=site.name,
            release_id=release_id,
            current_build=info.build_major if info else flavor.build_major,
            display_version=flavor.display_version or "",
            edition_id=edition.edition_id,
            installation_type=installation_type,
            product_name=edition.product_name,
            users={site.user: site.password},
            auth_basic="basic" in site.auth,
            auth_ntlm="ntlm" in site.auth,
            policy=dict(settings.get("policy", {})),
        )
        host.faults.reboot_downtime = float(settings["reboot_downtime"])
        overlay: dict[str, Any] = {"ReleaseId": flavor.release_id_value}
        if flavor.display_version is None:
            overlay["DisplayVersion"] = None
        host.registry[CURRENT_VERSION_KEY] = overlay
        host.boot_time = _boot_time(name, self.seed)
        return host

    def _set_build(
        self, host: SimHost, release: CatalogRelease, months_behind: int, hotpatch: bool, pending: bool, where: str
    ) -> None:
        chosen, newer = self._pick_build(release, months_behind, where)
        host.ubr = chosen.ubr
        host.installed_kbs = [*chosen.prerequisites, chosen.kb]
        host.meta = {"months_behind": months_behind, "month": chosen.month, "kb": chosen.kb}
        if hotpatch:
            # An enrolled host runs its target month's hotpatch build. In a baseline month, or a month whose
            # hotpatch the catalog does not list, it installs that month's LCU like any other host.
            host.hotpatch_enrolled = True
            patch = self._hotpatch_update(release, chosen.month)
            if patch is not None and patch.month == chosen.month:
                # Its staged update (if any) is still the next month's LCU, as for the other hosts.
                host.ubr = patch.ubr
                host.installed_kbs = [*chosen.prerequisites, chosen.kb, patch.kb]
                host.meta.update(month=patch.month, kb=patch.kb, hotpatch=True)
        if pending and newer is not None:
            host.pending_ubr = newer.ubr
            host.pending_reboot = {flag: flag in ("cbs_reboot_pending", "wu_reboot_required") for flag in PENDING_FLAGS}
            host.installed_kbs.append(newer.kb)
            host.meta.update(pending_kb=newer.kb, pending_month=newer.month)

    def _generate(
        self,
        site: Site,
        offset: int,
        count: int,
        releases: Mapping[str, float],
        builds: Mapping[int, float],
        fractions: Mapping[str, float],
        settings: Mapping[str, Any],
        rng: random.Random,
    ) -> list[SimHost]:
        if count == 0:
            return []
        for release_id in releases:
            if self._release_updates(release_id) is None:
                raise self.ctx.fail(f"releases.{release_id}", "the catalog has no entry for this release")
        release_of = _spread(rng, apportion(releases, count))
        months_of = _spread(rng, apportion({str(k): v for k, v in builds.items()}, count))
        hosts = []
        counters: dict[str, int] = {}
        for i in range(count):
            release_id = release_of[i]
            flavor = FLAVORS[release_id]
            weights = self.edition_weights.get(release_id) or {e.edition_id: e.weight for e in flavor.editions}
            edition = rng.choices(flavor.editions, weights=[weights.get(e.edition_id, 0) for e in flavor.editions])[0]
            installation_type = "Client"
            if flavor.family == "server":
                installation_type = "Server Core" if rng.random() < fractions["server_core"] else "Server"
                if release_id == "windows_server_23h2":
                    installation_type = "Server Core"  # the annual channel had no Desktop Experience
            role = "srv" if flavor.family == "server" else "ws"
            counters[role] = counters.get(role, 0) + 1
            name = f"{site.name}-{role}{counters[role]:04d}"
            host = self._new_host(site, offset + i, name, release_id, edition, installation_type, settings)
            release = self._release_updates(release_id)
            assert release is not None
            hotpatch = edition.hotpatch and rng.random() < fractions["hotpatch"]
            months = int(months_of[i])
            pending = months > 0 and rng.random() < fractions["pending_reboot"] / max(
                1e-9, 1 - builds.get(0, 0) / sum(builds.values())
            )
            self._set_build(host, release, months, hotpatch, pending, f"sites.{site.name}")
            hosts.append(host)
        return hosts

    def _explicit_host(
        self, site: Site, index: int, where: str, spec: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> SimHost:
        ctx = self.ctx
        release_id = ctx.string(spec["release"], f"{where}.release", _RELEASE_RE, "a release id")
        if release_id not in FLAVORS:
            raise ctx.fail(f"{where}.release", f"unknown release {release_id!r} (known: {', '.join(sorted(FLAVORS))})")
        flavor = FLAVORS[release_id]
        edition = flavor.editions[0]
        if "edition" in spec:
            wanted = ctx.string(spec["edition"], f"{where}.edition")
            match = [e for e in flavor.editions if e.edition_id == wanted]
            if not match:
                choices = ", ".join(e.edition_id for e in flavor.editions)
                raise ctx.fail(f"{where}.edition", f"{wanted!r} is not an edition of {release_id} ({choices})")
            edition = match[0]
        kinds = ("Client",) if flavor.family == "client" else ("Server", "Server Core")
        installation_type = ctx.choice(spec.get("installation_type", kinds[0]), f"{where}.installation_type", kinds)
        host = self._new_host(site, index, spec["name"], release_id, edition, installation_type, settings)
        if "ring" in spec:
            host.ring = ctx.string(spec["ring"], f"{where}.ring", _NAME_RE, "a ring name")
        hotpatch = ctx.boolean(spec.get("hotpatch", False), f"{where}.hotpatch")
        pending = ctx.boolean(spec.get("pending_reboot", False), f"{where}.pending_reboot")
        if hotpatch and not edition.hotpatch:
            raise ctx.fail(f"{where}.hotpatch", f"edition {edition.edition_id} of {release_id} cannot use hotpatch")
        if "build" in spec:
            if "months_behind" in spec:
                raise ctx.fail(where, "give either build or months_behind, not both")
            build = ctx.string(spec["build"], f"{where}.build")
            match = re.fullmatch(r"10\.0\.(\d+)\.(\d+)", build)
            if not match or int(match.group(1)) != host.current_build:
                raise ctx.fail(
                    f"{where}.build", f"{build!r} is not a build of {release_id} (10.0.{host.current_build}.<UBR>)"
                )
            host.ubr = int(match.group(2))
            host.hotpatch_enrolled = hotpatch
            host.meta = {"build": build}
            if pending:
                raise ctx.fail(f"{where}.pending_reboot", "needs months_behind (a build from the catalog), not build")
        else:
            release = self._release_updates(release_id)
            if release is None:
                raise ctx.fail(f"{where}.release", f"{release_id} is not in the catalog; give an explicit build")
            months = ctx.integer(spec.get("months_behind", 0), f"{where}.months_behind", 0, 120)
            self._set_build(host, release, months, hotpatch, pending, where)
            if pending and host.pending_ubr is None:
                raise ctx.fail(f"{where}.pending_reboot", "the host is on the newest update; nothing can be pending")
        if "policy" in spec:
            host.policy.update(ctx.mapping(spec["policy"], f"{where}.policy", _POLICY_VALUES))
        if "registry" in spec:
            overlay = ctx.mapping(spec["registry"], f"{where}.registry", _REGISTRY_OVERRIDES)
            host.registry[CURRENT_VERSION_KEY].update(overlay)
            if "ProductName" in overlay:
                host.product_name = ctx.string(overlay["ProductName"], f"{where}.registry.ProductName")
            if "EditionID" in overlay:
                host.edition_id = ctx.string(overlay["EditionID"], f"{where}.registry.EditionID")
            if "DisplayVersion" in overlay and overlay["DisplayVersion"] is not None:
                host.display_version = ctx.string(overlay["DisplayVersion"], f"{where}.registry.DisplayVersion")
        if "faults" in spec:
            _set_faults(ctx, host, spec["faults"], f"{where}.faults")
        host.meta["listed"] = True
        return host

    def _assign_rings(self, value: Any, hosts: list[SimHost], explicit: list[Any]) -> tuple[str, ...]:
        ctx = self.ctx
        if not isinstance(value, Mapping) or not value:
            raise ctx.fail(
                "rings", f"must be a mapping of ring name to count, percentage or 'rest', got {_kind(value)}"
            )
        listed = {spec["name"]: spec["ring"] for _index, spec in explicit if "ring" in spec}
        free = [h for h in hosts if h.name not in listed]
        total = len(hosts)
        counts: dict[str, int] = {}
        rest: str | None = None
        for ring, share in value.items():
            where = f"rings.{ring}"
            ctx.string(ring, where, _NAME_RE, "a ring name")
            if share == "rest":
                if rest is not None:
                    raise ctx.fail(where, f"only one ring can take the rest (already {rest!r})")
                rest = ring
                continue
            if isinstance(share, str) and re.fullmatch(r"\d+(\.\d+)?%", share):
                percent = float(share[:-1])
                if percent > 100:
                    raise ctx.fail(where, f"{share!r} is more than 100%")
                counts[ring] = round(total * percent / 100)
            elif isinstance(share, int) and not isinstance(share, bool) and share >= 0:
                counts[ring] = share
            else:
                raise ctx.fail(where, f"must be a count, a percentage like '10%' or 'rest', got {_kind(share)}")
        for name, ring in listed.items():
            if ring not in value:
                raise ctx.fail(
                    "hosts", f"host {name!r} names ring {ring!r}, which is not in rings ({', '.join(value)})"
                )
        if sum(counts.values()) > total:
            raise ctx.fail("rings", f"the rings ask for {sum(counts.values())} hosts but the fleet has {total}")
        if rest is None and sum(counts.values()) < total:
            raise ctx.fail("rings", f"the rings cover {sum(counts.values())} of {total} hosts; give one ring 'rest'")
        # hosts listed with a ring count towards it; the others fill what is left, in a seeded order
        for ring in listed.values():
            if ring in counts:
                counts[ring] = max(0, counts[ring] - 1)
        if rest is not None:
            counts[rest] = max(0, len(free) - sum(counts.values()))
        rng = random.Random(f"{self.seed}:rings")
        order = list(free)
        rng.shuffle(order)
        position = 0
        for ring in value:
            for host in order[position : position + counts[ring]]:
                host.ring = ring
            position += counts[ring]
        return tuple(value)

    def _apply_faults(self, value: Any, hosts: list[SimHost], sites: Mapping[str, Site]) -> None:
        ctx = self.ctx
        if not isinstance(value, list):
            raise ctx.fail("faults", f"must be a list of fault rules, got {_kind(value)}")
        for index, raw in enumerate(value):
            where = f"faults[{index}]"
            rule = ctx.mapping(raw, where, _FAULT_RULE_KEYS, required=("set",))
            pattern = ctx.string(rule.get("hosts", "*"), f"{where}.hosts")
            site_name = rule.get("site")
            if site_name is not None and site_name not in sites:
                raise ctx.fail(f"{where}.site", f"no site named {site_name!r} (sites: {', '.join(sites)})")
            matched = [
                h for h in hosts if fnmatch.fnmatchcase(h.name, pattern) and (site_name is None or h.site == site_name)
            ]
            if not matched:
                raise ctx.fail(f"{where}.hosts", f"{pattern!r} matches no host")
            if "fraction" in rule and "count" in rule:
                raise ctx.fail(where, "give either fraction or count, not both")
            chosen = matched
            if "fraction" in rule or "count" in rule:
                # sampling draws from generated hosts only: listed hosts are the hard cases, kept as described
                matched = [h for h in matched if not h.meta.get("listed")]
                if "fraction" in rule:
                    wanted = round(len(matched) * ctx.number(rule["fraction"], f"{where}.fraction", 0.0, 1.0))
                else:
                    wanted = ctx.integer(rule["count"], f"{where}.count", 0, len(matched))
                chosen = random.Random(f"{self.seed}:faults:{index}").sample(matched, wanted)
            for host in chosen:
                _set_faults(ctx, host, rule["set"], f"{where}.set")


_POLICY_VALUES = (
    "WUServer",
    "WUStatusServer",
    "TargetGroup",
    "TargetGroupEnabled",
    "UseWUServer",
    "NoAutoUpdate",
    "AUOptions",
    "DeferQualityUpdates",
    "DeferQualityUpdatesPeriodInDays",
    "PauseQualityUpdatesStartTime",
    "DisableDualScan",
    "SetDisableUXWUAccess",
)
_REGISTRY_OVERRIDES = ("ProductName", "DisplayVersion", "ReleaseId", "EditionID")


def _set_faults(ctx: _Ctx, host: SimHost, raw: Any, where: str) -> None:
    spec = ctx.mapping(raw, where, FAULT_FIELDS)
    for key, value in spec.items():
        if isinstance(getattr(host.faults, key), bool):
            setattr(host.faults, key, ctx.boolean(value, f"{where}.{key}"))
        elif isinstance(getattr(host.faults, key), int) and not isinstance(getattr(host.faults, key), bool):
            setattr(host.faults, key, ctx.integer(value, f"{where}.{key}", 0, 1000))
        else:
            setattr(host.faults, key, ctx.number(value, f"{where}.{key}", 0.0, 3600.0))


def _boot_time(name: str, seed: int) -> float:
    """A plausible last boot: a seeded 1 hour to 3 weeks before the lab starts."""
    return time.time() - random.Random(f"{seed}:boot:{name}").randint(3600, 21 * 86400)


def fleet_summary(hosts: Iterable[SimHost]) -> dict[str, Any]:
    """Counts by site, ring, release and months behind (for the CLI and for tests)."""
    summary: dict[str, dict[str, int]] = {"site": {}, "ring": {}, "release": {}, "months_behind": {}}
    for host in hosts:
        for key, value in (
            ("site", host.site),
            ("ring", host.ring),
            ("release", host.release_id),
            ("months_behind", str(host.meta.get("months_behind", "?"))),
        ):
            summary[key][value] = summary[key].get(value, 0) + 1
    return summary
