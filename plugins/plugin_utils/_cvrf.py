# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Convert Microsoft MSRC CVRF documents into baseline-catalog updates, and merge them into a catalog.

MSRC serves each monthly document at ``https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/<ID>`` in two forms:

* XML, CVRF 1.1 (namespaces ``http://www.icasi.org/CVRF/schema/{cvrf,prod,vuln}/1.1``): remediations are
  ``vuln:Remediation Type="Vendor Fix"`` with ``vuln:Description`` (the KB number), ``vuln:Supercedence``,
  ``vuln:ProductID``, ``vuln:SubType`` and ``vuln:FixedBuild``; products are ``prod:FullProductName``.
* JSON (the same document; field names as in Microsoft's own API description, ``docs/swagger.yaml`` of
  microsoft/MSRC-Microsoft-Security-Updates-API): ``DocumentTracking.Identification.ID.Value``,
  ``ProductTree.FullProductName[]`` / nested ``ProductTree.Branch[].Items[]``, and ``Vulnerability[].Remediations[]``
  with ``Type`` 2 (Vendor Fix), ``Description.Value``, ``Supercedence``, ``ProductID[]``, ``SubType``, ``FixedBuild``.

Only Windows client/server products of the releases in ``_releases.py`` are kept. A FixedBuild that cannot be made
into ``10.0.<major>.<ubr>`` of the product's own build major is dropped, with the reason in ``dropped``.

A document's ID or date never decides the month of a KB on its own: documents are revised for months and old ones
reference new KBs (and new ones old KBs). :func:`merge_updates` keeps dates other sources already know, dates a new
KB by the document in which it carries the most CVEs, and refuses KBs dated before what a release already holds.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import (
    Catalog,
    CatalogRelease,
    Update,
    build_catalog,
    compare_catalogs,
    normalize_kb,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES

LOG = logging.getLogger(__name__)

NS = {
    "cvrf": "http://www.icasi.org/CVRF/schema/cvrf/1.1",
    "prod": "http://www.icasi.org/CVRF/schema/prod/1.1",
    "vuln": "http://www.icasi.org/CVRF/schema/vuln/1.1",
}
VENDOR_FIX_JSON = 2  # Remediation "Type" in the JSON form: 0 Workaround, 1 Mitigation, 2 Vendor Fix, ...

# SubType -> catalog kind. Monthly Rollup / Security Only / IE Cumulative belong to releases we do not track,
# servicing stack updates do not change the OS build.
SUBTYPE_KINDS = {
    "security update": "B",
    "security update - windows": "B",
    "security hotpatch update": "HOTPATCH",
    "securityhotpatchupdate": "HOTPATCH",
    "azurehotpatch": "HOTPATCH",
    "standalone security update": "OOB",
}

# CVRF product names -> release ids. "for x64-based Systems" etc. and "(Server Core installation)" are optional.
_ARCH = r"(?: for (?:x64|32-bit|ARM64|ARM)(?:-based)? systems)?"
_CORE = r"(?: \(server core installation\))?"
PRODUCT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern + r"$", re.IGNORECASE), release_id)
    for pattern, release_id in (
        (r"windows 10 version 1607" + _ARCH, "windows_10_1607"),
        (r"windows 10 version 1809" + _ARCH, "windows_10_1809"),
        (r"windows 10 version 21h2" + _ARCH, "windows_10_21h2"),
        (r"windows 10 version 22h2" + _ARCH, "windows_10_22h2"),
        (r"windows 11 version 21h2" + _ARCH, "windows_11_21h2"),
        (r"windows 11 version 22h2" + _ARCH, "windows_11_22h2"),
        (r"windows 11 version 23h2" + _ARCH, "windows_11_23h2"),
        (r"windows 11 version 24h2" + _ARCH + r"(?: \(?hotpatch\)?)?", "windows_11_24h2"),
        (r"windows 11 version 25h2" + _ARCH + r"(?: \(?hotpatch\)?)?", "windows_11_25h2"),
        (r"windows 11 version 26h1" + _ARCH, "windows_11_26h1"),
        (r"windows server 2016" + _CORE, "windows_server_2016"),
        (r"windows server 2019" + _CORE, "windows_server_2019"),
        (r"windows server 2022" + _CORE + r"(?: \(?hotpatch\)?)?", "windows_server_2022"),
        (r"windows server 2022 datacenter: azure edition(?: \(?hotpatch\)?)?" + _CORE, "windows_server_2022"),
        (r"windows server 2022, 23h2 edition" + _CORE, "windows_server_23h2"),
        (r"windows server 2025" + _CORE + r"(?: \(?hotpatch\)?)?", "windows_server_2025"),
        (r"windows server 2025 datacenter: azure edition(?: \(?hotpatch\)?)?" + _CORE, "windows_server_2025"),
    )
)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00a0"), None)
_FIXED_BUILD = re.compile(r"^(?:10|0)\.0\.(\d{4,6})\.(\d{1,6})$")


@dataclass(frozen=True)
class Remediation:
    """One Vendor Fix remediation of one product, as the document states it."""

    cve: str
    product_id: str
    product_name: str
    kb: str  # raw Description
    fixed_build: str  # raw FixedBuild
    subtype: str
    supercedence: str


@dataclass(frozen=True)
class CvrfDocument:
    id: str
    title: str
    initial_release: datetime.datetime
    current_release: datetime.datetime | None
    products: dict[str, str]
    remediations: tuple[Remediation, ...]
    source: str
    form: str  # "xml" | "json"


@dataclass(frozen=True)
class CvrfUpdate:
    """One (release, KB, build) the converter found in one document."""

    release_id: str
    kb: str
    build: tuple[int, int, int, int]
    kind: str  # "B" (security update, month decided by the date) | "HOTPATCH" | "OOB"
    date: datetime.date  # the document's initial release date (evidence, not proof, of the KB's month)
    document: str
    supersedes: tuple[str, ...]
    cve_count: int
    products: tuple[str, ...]


@dataclass
class Conversion:
    updates: list[CvrfUpdate] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # one reason per dropped (document, product, KB)


def _fail(source: str, cause: str) -> CatalogError:
    return CatalogError(f"Failed to read the CVRF document {source}: {cause}")


# ---------------------------------------------------------------------------------------------------------------
# Reading documents


def parse_document(content: bytes | str | Mapping[str, Any], *, source: str = "<memory>") -> CvrfDocument:
    """Parse one CVRF document, XML or JSON (detected from the content); raises CatalogError naming ``source``."""
    if isinstance(content, Mapping):
        return _parse_json(content, source)
    text = content.decode("utf-8-sig", errors="strict") if isinstance(content, bytes) else content
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return _parse_xml(stripped, source)
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise _fail(source, f"not valid JSON ({exc})") from None
        return _parse_json(data, source)
    raise _fail(source, "not a CVRF document (neither XML nor JSON)")


def read_document_file(path: str) -> CvrfDocument:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise _fail(path, exc.strerror or str(exc)) from None
    return _parse_raw(raw, path)


UPDATE_INDEX_REASON = "the MSRC update index (the API's /updates answer), not a CVRF document"


def is_update_index(data: Any) -> bool:
    """Whether ``data`` is the MSRC ``GET /cvrf/v3.0/updates`` answer, as people save it next to the documents.

    That index is ``{"value": [{"ID", "Alias", "DocumentTitle", ..., "CvrfUrl"}, ...]}``: a non-empty list of
    objects that each carry a string ``ID`` and ``CvrfUrl``. Nothing less is recognised.
    """
    if not isinstance(data, Mapping) or "DocumentTracking" in data or "Vulnerability" in data:
        return False
    entries = data.get("value")
    return (
        isinstance(entries, list)
        and bool(entries)
        and all(
            isinstance(e, Mapping) and isinstance(e.get("ID"), str) and isinstance(e.get("CvrfUrl"), str)
            for e in entries
        )
    )


def read_documents(paths: Iterable[str]) -> tuple[list[CvrfDocument], list[dict[str, str]]]:
    """Read CVRF document files: (documents, skipped), skipped being ``{"path", "reason"}`` per update index file.

    The MSRC update index is the only file skipped; any other file that is not a CVRF document raises CatalogError.
    """
    documents: list[CvrfDocument] = []
    skipped: list[dict[str, str]] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise _fail(path, exc.strerror or str(exc)) from None
        if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            try:
                data = json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                data = None  # parse_document below names the cause
            if is_update_index(data):
                skipped.append({"path": path, "reason": UPDATE_INDEX_REASON})
                continue
        documents.append(_parse_raw(raw, path))
    return documents, skipped


def _parse_raw(raw: bytes, path: str) -> CvrfDocument:
    try:
        return parse_document(raw, source=path)
    except UnicodeDecodeError as exc:
        raise _fail(path, f"not UTF-8 text ({exc.reason})") from None


def _date_time(value: str | None, what: str, source: str) -> datetime.datetime:
    if not value:
        raise _fail(source, f"{what} is missing")
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _fail(source, f"{what} is not a date-time: {value!r}") from None
    return parsed.replace(tzinfo=None)


def _parse_xml(text: str, source: str) -> CvrfDocument:
    # CVRF has no DTD; refusing DTDs and entities rules out entity-expansion attacks before expat sees them
    head = text[:4096].upper()
    if "<!DOCTYPE" in head or "<!ENTITY" in text.upper():
        raise _fail(source, "XML with a DTD or entity declarations is not accepted")
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs refused above; ElementTree never fetches external entities
    except ET.ParseError as exc:
        raise _fail(source, f"not well-formed XML ({exc})") from None
    if root.tag != f"{{{NS['cvrf']}}}cvrfdoc":
        raise _fail(source, f"not a CVRF document (root element {root.tag!r}, expected cvrf:cvrfdoc)")
    doc_id = (root.findtext("cvrf:DocumentTracking/cvrf:Identification/cvrf:ID", namespaces=NS) or "").strip()
    if not doc_id:
        raise _fail(source, "DocumentTracking/Identification/ID is missing")
    title = (root.findtext("cvrf:DocumentTitle", namespaces=NS) or "").strip()
    initial = _date_time(
        root.findtext("cvrf:DocumentTracking/cvrf:InitialReleaseDate", namespaces=NS), "InitialReleaseDate", source
    )
    current_text = root.findtext("cvrf:DocumentTracking/cvrf:CurrentReleaseDate", namespaces=NS)
    current = _date_time(current_text, "CurrentReleaseDate", source) if current_text else None
    tree = root.find("prod:ProductTree", NS)
    if tree is None:
        raise _fail(source, "ProductTree is missing")
    products = {
        el.get("ProductID", ""): (el.text or "").strip() for el in tree.iter(f"{{{NS['prod']}}}FullProductName")
    }
    remediations = []
    for vuln in root.iterfind("vuln:Vulnerability", NS):
        cve = (vuln.findtext("vuln:CVE", namespaces=NS) or "").strip()
        for rem in vuln.iterfind("vuln:Remediations/vuln:Remediation", NS):
            if rem.get("Type") != "Vendor Fix":
                continue
            for product_id in rem.iterfind("vuln:ProductID", NS):
                pid = (product_id.text or "").strip()
                remediations.append(
                    Remediation(
                        cve=cve,
                        product_id=pid,
                        product_name=products.get(pid, ""),
                        kb=(rem.findtext("vuln:Description", namespaces=NS) or "").strip(),
                        fixed_build=rem.findtext("vuln:FixedBuild", namespaces=NS) or "",
                        subtype=(rem.findtext("vuln:SubType", namespaces=NS) or "").strip(),
                        supercedence=(rem.findtext("vuln:Supercedence", namespaces=NS) or "").strip(),
                    )
                )
    return CvrfDocument(doc_id, title, initial, current, products, tuple(remediations), source, "xml")


def _value(node: Any) -> str:
    """JSON CVRF wraps most strings as {"Value": "..."}; accept both."""
    if isinstance(node, Mapping):
        node = node.get("Value")
    return node.strip() if isinstance(node, str) else ""


def _json_products(tree: Mapping[str, Any]) -> dict[str, str]:
    products: dict[str, str] = {}

    def walk(items: Any) -> None:
        if not isinstance(items, list):
            return
        for item in items:
            if not isinstance(item, Mapping):
                continue
            if "ProductID" in item and isinstance(item.get("Value"), str):
                products[str(item["ProductID"])] = item["Value"].strip()
            walk(item.get("Items"))
            walk(item.get("Branch"))

    # like the XML form (document order), the top-level FullProductName list wins over names in the branches
    walk(tree.get("Branch"))
    walk(tree.get("FullProductName"))
    return products


def _parse_json(data: Mapping[str, Any], source: str) -> CvrfDocument:
    if not isinstance(data, Mapping) or "DocumentTracking" not in data or "Vulnerability" not in data:
        raise _fail(source, "not a CVRF document (no DocumentTracking/Vulnerability)")
    tracking = data["DocumentTracking"]
    if not isinstance(tracking, Mapping):
        raise _fail(source, "DocumentTracking is not an object")
    ident = tracking.get("Identification")
    doc_id = _value(ident.get("ID")) if isinstance(ident, Mapping) else ""
    if not doc_id:
        raise _fail(source, "DocumentTracking.Identification.ID is missing")
    initial = _date_time(tracking.get("InitialReleaseDate"), "InitialReleaseDate", source)
    current = (
        _date_time(tracking["CurrentReleaseDate"], "CurrentReleaseDate", source)
        if tracking.get("CurrentReleaseDate")
        else None
    )
    tree = data.get("ProductTree")
    if not isinstance(tree, Mapping):
        raise _fail(source, "ProductTree is missing")
    products = _json_products(tree)
    vulns = data["Vulnerability"]
    if not isinstance(vulns, list):
        raise _fail(source, "Vulnerability is not a list")
    remediations = []
    for vuln in vulns:
        if not isinstance(vuln, Mapping):
            raise _fail(source, "a Vulnerability entry is not an object")
        cve = vuln.get("CVE") if isinstance(vuln.get("CVE"), str) else ""
        for rem in vuln.get("Remediations") or []:
            if not isinstance(rem, Mapping) or rem.get("Type") not in (VENDOR_FIX_JSON, "Vendor Fix"):
                continue
            for pid in rem.get("ProductID") or []:
                remediations.append(
                    Remediation(
                        cve=cve,
                        product_id=str(pid),
                        product_name=products.get(str(pid), ""),
                        kb=_value(rem.get("Description")),
                        fixed_build=rem.get("FixedBuild") if isinstance(rem.get("FixedBuild"), str) else "",
                        subtype=rem.get("SubType").strip() if isinstance(rem.get("SubType"), str) else "",
                        supercedence=rem.get("Supercedence").strip()
                        if isinstance(rem.get("Supercedence"), str)
                        else "",
                    )
                )
    title = _value(data.get("DocumentTitle"))
    return CvrfDocument(doc_id, title, initial, current, products, tuple(remediations), source, "json")


# ---------------------------------------------------------------------------------------------------------------
# Converting


def map_product(name: str) -> str | None:
    """The release id of a CVRF product name, or None when it is not a Windows release we track."""
    clean = " ".join(name.split())
    for pattern, release_id in PRODUCT_PATTERNS:
        if pattern.match(clean):
            return release_id
    return None


def clean_fixed_build(value: str, release_id: str) -> tuple[tuple[int, int, int, int] | None, str]:
    """Normalise a FixedBuild for a release: ``(build, "")`` or ``(None, reason)``.

    Zero-width/no-break spaces are removed and a ``0.0.`` prefix (seen in MSRC data) is read as ``10.0.``; a build
    whose major is not the release's own is refused rather than guessed.
    """
    text = value.translate(_ZERO_WIDTH).strip()
    match = _FIXED_BUILD.match(text)
    if not match:
        return None, f"FixedBuild {value!r} is not a Windows build number"
    build = (10, 0, int(match.group(1)), int(match.group(2)))
    major = RELEASES[release_id].build_major
    if build[2] != major:
        return None, f"FixedBuild {value!r} has build major {build[2]}, not {major} of {release_id}"
    return build, ""


def convert(document: CvrfDocument) -> Conversion:
    """The catalog updates one document states, per (release, KB, build), with the reasons for what was dropped."""
    result = Conversion()
    found: dict[tuple[str, str, tuple[int, int, int, int], str], dict[str, set[str]]] = {}
    dropped: set[str] = set()
    for rem in document.remediations:
        release_id = map_product(rem.product_name)
        if release_id is None:
            continue
        kind = SUBTYPE_KINDS.get(rem.subtype.lower())
        if kind is None:
            if rem.subtype:
                dropped.add(f"{document.id}: {rem.product_name} {rem.kb}: SubType {rem.subtype!r} is not an LCU")
            continue
        try:
            kb = normalize_kb(rem.kb)
        except ValueError:
            dropped.add(f"{document.id}: {rem.product_name}: Description {rem.kb!r} is not a KB number")
            continue
        build, reason = clean_fixed_build(rem.fixed_build, release_id)
        if build is None:
            dropped.add(f"{document.id}: {rem.product_name} {kb}: {reason}")
            continue
        entry = found.setdefault((release_id, kb, build, kind), {"cves": set(), "sup": set(), "products": set()})
        if rem.cve:
            entry["cves"].add(rem.cve)
        entry["products"].add(rem.product_name)
        for sup in re.split(r"[;,\s]+", rem.supercedence):
            try:
                entry["sup"].add(normalize_kb(sup))
            except ValueError:
                continue
    date = document.initial_release.date()
    for (release_id, kb, build, kind), entry in sorted(found.items()):
        result.updates.append(
            CvrfUpdate(
                release_id,
                kb,
                build,
                kind,
                date,
                document.id,
                tuple(sorted(entry["sup"] - {kb})),
                len(entry["cves"]),
                tuple(sorted(entry["products"])),
            )
        )
    result.dropped = sorted(dropped)
    for reason in result.dropped:
        LOG.info("dropped %s", reason)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Merging into a catalog (shared by the catalog_update module and tests/tools/build_catalog.py)

# Releases that receive the same LCU (same KB and UBR, each with its own build major). Server 2025 left the 26100
# client stream with the 2026-01 LCU (KB5073379 -> 26100.32230 while Windows 11 24H2 went to 26100.7623).
STREAM_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("windows_10_1607", "windows_server_2016"),
    ("windows_10_1809", "windows_server_2019"),
    ("windows_10_21h2", "windows_10_22h2"),
    ("windows_11_22h2", "windows_11_23h2"),
    ("windows_11_24h2", "windows_11_25h2", "windows_server_2025"),
)
SERVER_2025_OWN_STREAM = datetime.date(2026, 1, 1)
# First day a release takes its family's LCUs (general availability, from Microsoft's release-information tables
# as in ../shared/data/alitai12-windows-updatelist); the last day is its end of support (ESU included).
FILL_FROM: dict[str, datetime.date] = {
    "windows_11_23h2": datetime.date(2023, 10, 31),
    "windows_11_25h2": datetime.date(2025, 9, 30),
    "windows_server_2025": datetime.date(2024, 11, 1),
}

# Checkpoint cumulative updates of Windows 11 24H2/25H2 and Server 2025 (build 26100/26200). A later LCU only holds
# the deltas since the newest checkpoint before it, so every earlier checkpoint is its prerequisite.
# - KB5043080 (2024-09-10, 26100.1742): Microsoft's KB5048667 article (2024-12-10, 26100.2605), section "How to get
#   this update" -> Catalog: "This update has prerequisite(s): KB5043080"; quoted in ../shared/notes/windows-facts.md.
# - Still the only checkpoint in 2026-03: the install order for KB5086672 (2026-03-31, 26100.8117) is KB5043080 then
#   KB5086672 (windowsforum.com thread "KB5086672 Windows 11 (ARM64): install order with checkpoint KB5043080",
#   quoting the KB article). No later checkpoint could be sourced; Server 2025's own stream from 2026-01 may add one.
# Background: learn.microsoft.com/windows/deployment/update/catalog-checkpoint-cumulative-updates.
CHECKPOINTS: tuple[tuple[str, datetime.date], ...] = (("KB5043080", datetime.date(2024, 9, 10)),)
CHECKPOINT_RELEASES = frozenset({"windows_11_24h2", "windows_11_25h2", "windows_server_2025"})


def last_supported_day(release_id: str) -> datetime.date:
    info = RELEASES[release_id]
    days = [datetime.date.fromisoformat(d) for d in info.lifecycle.values() if d]
    if info.esu_end:
        days.append(datetime.date.fromisoformat(info.esu_end))
    return max(days) if days else datetime.date.max


def _second_tuesday(day: datetime.date) -> datetime.date:
    first = day.replace(day=1)
    return first + datetime.timedelta(days=(1 - first.weekday()) % 7 + 7)


def checkpoint_fields(release_id: str, kb: str, date: datetime.date, kind: str) -> tuple[bool, tuple[str, ...]]:
    """(checkpoint flag, prerequisite KBs) of an update."""
    if release_id not in CHECKPOINT_RELEASES:
        return False, ()
    is_checkpoint = any(kb == cp for cp, _day in CHECKPOINTS)
    if kind == "HOTPATCH":
        return is_checkpoint, ()  # hotpatches apply on top of their quarter's baseline LCU
    return is_checkpoint, tuple(cp for cp, day in CHECKPOINTS if day < date and cp != kb)


def pick_cvrf_evidence(updates: Iterable[CvrfUpdate]) -> dict[tuple[str, str], CvrfUpdate]:
    """Per (release, KB), the document statement with the most CVEs (ties: the earliest document).

    A KB's own month is the document in which it fixes the bulk of that month's CVEs; revised documents of other
    months mention it for one or two CVEs only.
    """
    best: dict[tuple[str, str], CvrfUpdate] = {}
    for update in updates:
        key = (update.release_id, update.kb)
        have = best.get(key)
        if have is None or (update.cve_count, -update.date.toordinal()) > (have.cve_count, -have.date.toordinal()):
            best[key] = update
    return best


def fill_streams(by_release: dict[str, dict[str, Update]], log: list[str] | None = None) -> int:
    """Copy each LCU to the other members of its servicing family where no source showed it (in place)."""
    added = 0
    for family in STREAM_FAMILIES:
        for target in family:
            info = RELEASES[target]
            first, last = FILL_FROM.get(target, datetime.date.min), last_supported_day(target)
            target_updates = by_release.setdefault(target, {})
            for donor in family:
                if donor == target:
                    continue
                for kb, item in sorted(by_release.get(donor, {}).items()):
                    if kb in target_updates or not first <= item.date <= last:
                        continue
                    if "windows_server_2025" in (donor, target) and item.date >= SERVER_2025_OWN_STREAM:
                        continue
                    if RELEASES[donor].family != info.family and item.kind != "B":
                        continue  # previews, out-of-band fixes and hotpatches can be client- or server-only
                    if any(u.ubr == item.ubr for u in target_updates.values()):
                        continue  # the target has this UBR under another KB: sources disagree, keep the target's
                    build = (10, 0, info.build_major, item.ubr)
                    checkpoint, prereqs = checkpoint_fields(target, kb, item.date, item.kind)
                    target_updates[kb] = replace(item, build=build, checkpoint=checkpoint, prerequisites=prereqs)
                    added += 1
                    if log is not None:
                        log.append(f"filled {target} {kb} {'.'.join(map(str, build))} from {donor}")
    return added


def merge_updates(
    catalog: Catalog, cvrf_updates: Iterable[CvrfUpdate], *, log: list[str] | None = None
) -> dict[str, dict[str, Update]]:
    """The catalog's updates per release (by KB) with the CVRF statements merged in, then stream-filled.

    KBs the catalog already holds keep their date and kind. A new KB is dated by its strongest document; it is
    a B release when that date is the month's Patch Tuesday, otherwise out-of-band. A new KB dated on or before the
    newest update its release already holds is a stray reference in a revised old document and is dropped.
    """
    log = log if log is not None else []
    by_release: dict[str, dict[str, Update]] = {
        rid: {u.kb: u for u in rel.updates} for rid, rel in catalog.releases.items()
    }
    newest = {
        rid: max((u.date for u in rel.updates), default=datetime.date.min) for rid, rel in catalog.releases.items()
    }
    evidence = pick_cvrf_evidence(cvrf_updates)
    # one LCU of a kind per release and day: a second one is a stray mention (the one with more CVEs wins)
    strongest: dict[tuple[str, datetime.date, str], CvrfUpdate] = {}
    for ev in evidence.values():
        if ev.kind == "HOTPATCH":
            continue
        key = (ev.release_id, ev.date, ev.kind)
        if key not in strongest or (ev.cve_count, ev.kb) > (strongest[key].cve_count, strongest[key].kb):
            strongest[key] = ev
    for (release_id, kb), ev in sorted(evidence.items()):
        updates = by_release.setdefault(release_id, {})
        if ev.kind != "HOTPATCH" and kb not in updates and strongest[(release_id, ev.date, ev.kind)] is not ev:
            log.append(f"dropped {release_id} {kb}: {ev.document} names another {ev.kind} release of {ev.date}")
            continue
        if kb in updates:
            if updates[kb].build != ev.build:
                log.append(
                    f"kept {release_id} {kb} at {updates[kb].build_str}; document {ev.document} says "
                    f"{'.'.join(map(str, ev.build))}"
                )
            continue
        if ev.date <= newest.get(release_id, datetime.date.min):
            log.append(f"dropped {release_id} {kb}: document {ev.document} ({ev.date}) is not newer than the catalog")
            continue
        kind = ev.kind
        if kind == "B" and ev.date != _second_tuesday(ev.date):
            kind = "OOB"
        checkpoint, prereqs = checkpoint_fields(release_id, kb, ev.date, kind)
        updates[kb] = Update(ev.date, ev.date.strftime("%Y-%m"), kb, ev.build, kind, checkpoint, prereqs)
        log.append(f"added {release_id} {kb} {'.'.join(map(str, ev.build))} {kind} {ev.date} from {ev.document}")
    fill_streams(by_release, log)
    return by_release


def releases_from(by_release: Mapping[str, Mapping[str, Update]], base: Catalog | None = None) -> list[CatalogRelease]:
    """CatalogRelease objects for every release in ``_releases.py`` (lifecycle copied from there)."""
    result = []
    for release_id, info in RELEASES.items():
        updates = tuple(sorted(by_release.get(release_id, {}).values(), key=lambda u: (u.date, u.build, u.kb)))
        result.append(
            CatalogRelease(
                release_id=release_id,
                name=info.name,
                family=info.family,
                build_major=info.build_major,
                installation_types=info.installation_types,
                stream=info.stream,
                lifecycle={k: (datetime.date.fromisoformat(v) if v else None) for k, v in info.lifecycle.items()},
                esu_end=datetime.date.fromisoformat(info.esu_end) if info.esu_end else None,
                hotpatch=info.hotpatch,
                updates=updates,
            )
        )
    if base is not None:
        # releases only the base catalog knows (a newer collection's table) are carried over unchanged
        known = {r.release_id for r in result}
        result.extend(rel for rid, rel in base.releases.items() if rid not in known)
    return result


def missing_b_releases(by_release: Mapping[str, Mapping[str, Update]], month: str, previous_month: str) -> list[str]:
    """Releases that had a B release in ``previous_month`` but have none in ``month`` (a partial month)."""
    missing = []
    for release_id, updates in sorted(by_release.items()):
        kinds_prev = any(u.month == previous_month and u.kind == "B" for u in updates.values())
        kinds_now = any(u.month == month and u.kind == "B" for u in updates.values())
        in_support = release_id in RELEASES and last_supported_day(release_id) >= datetime.date.fromisoformat(
            month + "-01"
        )
        if kinds_prev and not kinds_now and in_support:
            missing.append(release_id)
    return missing


def group_by_release(updates: Iterable[CvrfUpdate]) -> dict[str, list[CvrfUpdate]]:
    grouped: dict[str, list[CvrfUpdate]] = defaultdict(list)
    for update in updates:
        grouped[update.release_id].append(update)
    return dict(grouped)


# ---------------------------------------------------------------------------------------------------------------
# Refreshing a catalog from documents (the catalog_update module)


@dataclass
class Refresh:
    catalog: Catalog  # the refreshed catalog (the current one when nothing changed)
    changed: bool
    months_added: list[str]
    releases_updated: list[str]
    documents: list[str]
    log: list[str]
    dropped: list[str]


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def _months_between(after: str, last: str) -> list[str]:
    """The months (YYYY-MM) after ``after`` up to and including ``last``."""
    year, mon = int(after[:4]), int(after[5:])
    months = []
    while True:
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
        month = f"{year}-{mon:02d}"
        if month > last:
            return months
        months.append(month)


def refresh_catalog(current: Catalog, documents: Iterable[CvrfDocument], *, generated_at: str) -> Refresh:
    """Merge documents into ``current``; raise CatalogError when the result would be partial, older or smaller, or
    when the months it adds do not follow the catalog's data month without a gap.

    The documents are taken (and reported) in the order Microsoft released them, whatever order they were read in
    (a directory is listed alphabetically, which puts 2026-Jun before 2026-May).
    """
    docs = sorted(documents, key=lambda d: (d.initial_release, d.id))
    statements: list[CvrfUpdate] = []
    dropped: list[str] = []
    for document in docs:
        conversion = convert(document)
        statements.extend(conversion.updates)
        dropped.extend(conversion.dropped)
    log: list[str] = []
    merged = merge_updates(current, statements, log=log)

    new_months = sorted({u.month for ups in merged.values() for u in ups.values() if u.kind == "B"} - current.months())
    # the months added must follow the catalog's data month without a gap, or hosts would be judged against a
    # baseline that skips the missing months' updates
    later = [m for m in new_months if m > current.data_month]
    if later:
        skipped = [m for m in _months_between(current.data_month, later[-1]) if m not in later]
        if skipped:
            raise CatalogError(
                f"Failed to update the catalog: the documents skip {', '.join(skipped)} after the catalog's "
                f"{current.data_month}; add those months' documents"
            )
    # a new month must bring the B release of every release that had one the month before and is still supported
    for month in new_months:
        missing = missing_b_releases(merged, month, _previous_month(month))
        if missing:
            names = ", ".join(d.id for d in docs) or "none"
            raise CatalogError(
                f"Failed to update the catalog: the documents ({names}) hold only part of {month}: "
                f"no B release for {', '.join(missing)}"
            )

    releases_updated = sorted(
        rid
        for rid, ups in merged.items()
        if {u.kb for u in ups.values()}
        != {u.kb for u in (current.releases[rid].updates if rid in current.releases else ())}
    )
    if not releases_updated:
        return Refresh(current, False, [], [], [d.id for d in docs], log, sorted(set(dropped)))
    sources = [*current.sources, *(f"msrc-cvrf:{d.id}" for d in docs)]
    new = build_catalog(releases_from(merged, base=current), generated_at=generated_at, sources=sources)
    problems = compare_catalogs(current, new)
    if problems:
        raise CatalogError(f"Failed to update the catalog: the result would be refused: {'; '.join(problems)}")
    return Refresh(new, True, new_months, releases_updated, [d.id for d in docs], log, sorted(set(dropped)))
