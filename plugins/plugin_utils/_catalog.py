# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The baseline catalog: every cumulative update per Windows release, loaded and validated.

The catalog is a JSON file (``data/catalog.json``, format in ``docs/developing.md``). Everything that reads it goes
through :func:`load_catalog` or :func:`parse_catalog`, which validate the whole document and raise
:class:`CatalogError` naming the file and the first problem found. Nothing downstream has to re-check it.
A partial catalog is refused too: it must hold every release of ``_releases.RELEASES``, and every such release
still supported on the catalog's ``data_date`` must have at least one B release.

:func:`dump_catalog` is the single writer: compact, key-sorted JSON, so a regenerated catalog only differs where the
data differs. :func:`compare_catalogs` decides whether a new catalog may replace an old one (never older, never
partial).
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES

SCHEMA = 1
KINDS = ("B", "D", "OOB", "HOTPATCH")
FAMILIES = ("client", "server")

_KB_RE = re.compile(r"^KB\d{6,8}$")
_BUILD_RE = re.compile(r"^10\.0\.(\d{4,6})\.(\d{1,6})$")
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Update:
    """One cumulative update of one release."""

    date: datetime.date
    month: str  # "YYYY-MM"
    kb: str  # "KB5066835"
    build: tuple[int, int, int, int]  # (10, 0, 26100, 6899)
    kind: str  # "B" | "D" | "OOB" | "HOTPATCH"
    checkpoint: bool
    prerequisites: tuple[str, ...]  # KBs that must be installed first (checkpoint chain)

    @property
    def ubr(self) -> int:
        return self.build[3]

    @property
    def build_str(self) -> str:
        return ".".join(str(part) for part in self.build)

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "month": self.month,
            "kb": self.kb,
            "build": self.build_str,
            "kind": self.kind,
            "checkpoint": self.checkpoint,
            "prerequisites": list(self.prerequisites),
        }


@dataclass(frozen=True)
class CatalogRelease:
    """One Windows release with its lifecycle and its updates (sorted by date, then build)."""

    release_id: str
    name: str
    family: str
    build_major: int
    installation_types: tuple[str, ...]
    stream: str
    lifecycle: dict[str, datetime.date | None]
    esu_end: datetime.date | None
    hotpatch: bool
    updates: tuple[Update, ...]

    def updates_of_kind(self, *kinds: str) -> tuple[Update, ...]:
        """The updates whose kind is one of ``kinds`` (all updates when none is given)."""
        return tuple(u for u in self.updates if not kinds or u.kind in kinds)

    def security_updates(self, as_of: datetime.date | None = None) -> tuple[Update, ...]:
        """The B (Patch Tuesday) releases, optionally only those released on or before ``as_of``."""
        return tuple(u for u in self.updates if u.kind == "B" and (as_of is None or u.date <= as_of))

    def latest(self, kind: str = "B", as_of: datetime.date | None = None) -> Update | None:
        """The newest update of ``kind`` released on or before ``as_of`` (any date when None)."""
        found = [u for u in self.updates if u.kind == kind and (as_of is None or u.date <= as_of)]
        return found[-1] if found else None

    def for_month(self, month: str, kind: str | None = None) -> tuple[Update, ...]:
        """The updates released in ``month`` ("YYYY-MM"), optionally of one kind."""
        return tuple(u for u in self.updates if u.month == month and (kind is None or u.kind == kind))

    def by_kb(self, kb: str) -> Update | None:
        """The update with this KB number (``KB`` prefix optional), or None."""
        wanted = normalize_kb(kb)
        return next((u for u in self.updates if u.kb == wanted), None)

    def by_build(self, build: tuple[int, int, int, int]) -> tuple[Update, ...]:
        """The updates that produce exactly this build."""
        return tuple(u for u in self.updates if u.build == tuple(build))

    def newest_build(self) -> tuple[int, int, int, int] | None:
        """The highest build of any update (None for a release without updates)."""
        return max((u.build for u in self.updates), default=None)

    def checkpoint_chain(self, kb: str) -> tuple[str, ...]:
        """The checkpoint KBs to install, in order, before ``kb`` (empty when it has none or is unknown)."""
        update = self.by_kb(kb)
        return update.prerequisites if update else ()

    def end_of_support(self, edition_group: str = "default") -> datetime.date | None:
        """The end of support for an edition group, falling back to ``default``."""
        if edition_group in self.lifecycle:
            return self.lifecycle[edition_group]
        return self.lifecycle.get("default")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "build_major": self.build_major,
            "installation_types": list(self.installation_types),
            "stream": self.stream,
            "lifecycle": {k: (v.isoformat() if v else None) for k, v in sorted(self.lifecycle.items())},
            "esu_end": self.esu_end.isoformat() if self.esu_end else None,
            "hotpatch": self.hotpatch,
            "updates": [u.to_dict() for u in self.updates],
        }


@dataclass(frozen=True)
class Catalog:
    """A validated baseline catalog."""

    schema: int
    data_date: datetime.date
    generated_at: str
    sources: tuple[str, ...]
    releases: dict[str, CatalogRelease]
    path: str | None

    def release(self, release_id: str) -> CatalogRelease | None:
        return self.releases.get(release_id)

    @property
    def data_month(self) -> str:
        return self.data_date.strftime("%Y-%m")

    def find_kb(self, kb: str) -> list[tuple[CatalogRelease, Update]]:
        """Every (release, update) pair carrying this KB."""
        wanted = normalize_kb(kb)
        return [(rel, u) for rel in self.releases.values() for u in rel.updates if u.kb == wanted]

    def newest_builds(self) -> dict[str, str | None]:
        """Per release id, the newest build string (used for diffs and summaries)."""
        result: dict[str, str | None] = {}
        for release_id, rel in sorted(self.releases.items()):
            newest = rel.newest_build()
            result[release_id] = ".".join(map(str, newest)) if newest else None
        return result

    def months(self) -> set[str]:
        """Every month that has at least one B release in the catalog."""
        return {u.month for rel in self.releases.values() for u in rel.updates if u.kind == "B"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "data_date": self.data_date.isoformat(),
            "generated_at": self.generated_at,
            "sources": list(self.sources),
            "releases": {rid: rel.to_dict() for rid, rel in sorted(self.releases.items())},
        }


# ---------------------------------------------------------------------------------------------------------------
# Small value helpers (also used by the converter)


def normalize_kb(value: Any) -> str:
    """``"5066835"``, ``"kb5066835"`` or ``5066835`` -> ``"KB5066835"``; raises ValueError otherwise."""
    text = str(value).strip().upper()
    if not text.startswith("KB"):
        text = "KB" + text
    if not _KB_RE.match(text):
        raise ValueError(f"not a KB number: {value!r}")
    return text


def parse_build_string(value: Any) -> tuple[int, int, int, int]:
    """``"10.0.26100.6899"`` -> ``(10, 0, 26100, 6899)``; raises ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError(f"build must be a string like 10.0.26100.6899, got {_json_kind(value)}")
    match = _BUILD_RE.match(value)
    if not match:
        raise ValueError(f"build must look like 10.0.26100.6899, got {value!r}")
    return (10, 0, int(match.group(1)), int(match.group(2)))


_JSON_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (Mapping, "an object"),
    ((list, tuple), "an array"),
)


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words ("an array"), never a Python type name."""
    if value is None:
        return "null"
    return next((word for kind, word in _JSON_KINDS if isinstance(value, kind)), "a value JSON cannot hold")


def _date(value: Any, what: str) -> datetime.date:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO date string (YYYY-MM-DD), got {value!r}")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be an ISO date (YYYY-MM-DD), got {value!r}") from None


def _optional_date(value: Any, what: str) -> datetime.date | None:
    return None if value is None else _date(value, what)


# A sample value of each kind _require checks, so messages can name the kind in JSON's words.
_EXAMPLES: dict[Any, Any] = {int: 0, str: "", bool: False, list: [], Mapping: {}}


def _require(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in mapping:
        raise ValueError(f"{where}: missing key {key!r}")
    value = mapping[key]
    # bool is an int subclass; never accept it where a number or string is expected
    if isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{where}: {key!r} must be {_json_kind(_EXAMPLES[kind])}, got a boolean")
    if not isinstance(value, kind):
        raise ValueError(f"{where}: {key!r} must be {_json_kind(_EXAMPLES[kind])}, got {_json_kind(value)}")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Parsing and validation


def _parse_update(raw: Any, where: str, build_major: int) -> Update:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object, got {_json_kind(raw)}")
    date = _date(_require(raw, "date", str, where), f"{where}.date")
    month = _require(raw, "month", str, where)
    if not _MONTH_RE.match(month) or month != date.strftime("%Y-%m"):
        raise ValueError(f"{where}: month {month!r} does not match date {date.isoformat()}")
    kb_raw, build_raw = _require(raw, "kb", str, where), _require(raw, "build", str, where)
    try:
        kb = normalize_kb(kb_raw)
        build = parse_build_string(build_raw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if build[2] != build_major:
        raise ValueError(f"{where}: build {raw['build']} does not belong to build major {build_major}")
    kind = _require(raw, "kind", str, where)
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    checkpoint = _require(raw, "checkpoint", bool, where)
    prereqs_raw = _require(raw, "prerequisites", list, where)
    try:
        prerequisites = tuple(normalize_kb(p) for p in prereqs_raw)
    except ValueError as exc:
        raise ValueError(f"{where}.prerequisites: {exc}") from None
    if kb in prerequisites:
        raise ValueError(f"{where}: {kb} lists itself as a prerequisite")
    return Update(date, month, kb, build, kind, checkpoint, prerequisites)


def _parse_release(release_id: str, raw: Any) -> CatalogRelease:
    where = f"release {release_id!r}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object, got {_json_kind(raw)}")
    name = _require(raw, "name", str, where)
    family = _require(raw, "family", str, where)
    if family not in FAMILIES:
        raise ValueError(f"{where}: family must be client or server, got {family!r}")
    build_major = _require(raw, "build_major", int, where)
    types = _require(raw, "installation_types", list, where)
    if not types or not all(isinstance(t, str) for t in types):
        raise ValueError(f"{where}: installation_types must be a non-empty list of strings")
    stream = _require(raw, "stream", str, where)
    lifecycle_raw = _require(raw, "lifecycle", Mapping, where)
    if "default" not in lifecycle_raw:
        raise ValueError(f"{where}: lifecycle has no 'default' entry")
    lifecycle = {str(k): _optional_date(v, f"{where}.lifecycle.{k}") for k, v in lifecycle_raw.items()}
    if "esu_end" not in raw:
        raise ValueError(f"{where}: missing key 'esu_end'")
    esu_end = _optional_date(raw["esu_end"], f"{where}.esu_end")
    hotpatch = _require(raw, "hotpatch", bool, where)
    updates_raw = _require(raw, "updates", list, where)
    updates = tuple(
        _parse_update(
            item, f"{where} update #{index} ({item.get('kb') if isinstance(item, Mapping) else '?'})", build_major
        )
        for index, item in enumerate(updates_raw)
    )
    keys = [(u.date, u.build) for u in updates]
    if keys != sorted(keys):
        raise ValueError(f"{where}: updates are not sorted by date, then build")
    seen: set[tuple[str, tuple[int, int, int, int]]] = set()
    for update in updates:
        if (update.kb, update.build) in seen:
            raise ValueError(f"{where}: {update.kb} ({update.build_str}) is listed twice")
        seen.add((update.kb, update.build))
    return CatalogRelease(
        release_id, name, family, build_major, tuple(types), stream, lifecycle, esu_end, hotpatch, updates
    )


def parse_catalog(data: Mapping[str, Any], *, source: str = "<memory>", path: str | None = None) -> Catalog:
    """Validate a catalog document (already decoded from JSON) and return it as a :class:`Catalog`.

    Raises :class:`CatalogError` "Failed to load the catalog <source>: <cause>" on the first problem.
    """
    try:
        if not isinstance(data, Mapping):
            raise ValueError(f"the document must be a JSON object, got {_json_kind(data)}")
        schema = _require(data, "schema", int, "catalog")
        if schema != SCHEMA:
            raise ValueError(f"unsupported schema {schema} (this collection reads schema {SCHEMA})")
        data_date = _date(_require(data, "data_date", str, "catalog"), "data_date")
        generated_at = _require(data, "generated_at", str, "catalog")
        sources = _require(data, "sources", list, "catalog")
        if not all(isinstance(s, str) for s in sources):
            raise ValueError("catalog: sources must be a list of strings")
        releases_raw = _require(data, "releases", Mapping, "catalog")
        if not releases_raw:
            raise ValueError("catalog: 'releases' is empty")
        releases = {str(rid): _parse_release(str(rid), raw) for rid, raw in releases_raw.items()}
        newest = max((u.date for rel in releases.values() for u in rel.updates if u.kind == "B"), default=None)
        if newest is None:
            raise ValueError("catalog: no release has any B (Patch Tuesday) update")
        if data_date > newest:
            # a catalog must never claim months it does not hold: that would hide missing baselines
            raise ValueError(
                f"data_date {data_date.isoformat()} is later than the newest B release in the catalog "
                f"({newest.isoformat()})"
            )
        _check_complete(releases, data_date)
    except ValueError as exc:
        raise CatalogError(f"Failed to load the catalog {source}: {exc}") from None
    return Catalog(schema, data_date, generated_at, tuple(sources), releases, path)


def _last_supported_day(release: CatalogRelease) -> datetime.date:
    """The last day any edition of a release is supported (ESU included); date.max when an end is not published."""
    days = list(release.lifecycle.values())
    if any(day is None for day in days):
        return datetime.date.max
    if release.esu_end is not None:
        days.append(release.esu_end)
    return max(day for day in days if day is not None)


def _check_complete(releases: Mapping[str, CatalogRelease], data_date: datetime.date) -> None:
    """Refuse a partial catalog: every known release must be present, and each one still supported on the
    catalog's data date must have at least one B release (otherwise its hosts would be judged against nothing)."""
    missing = [rid for rid in RELEASES if rid not in releases]
    if missing:
        names = ", ".join(f"{rid} ({RELEASES[rid].name})" for rid in missing)
        raise ValueError(f"the catalog is partial: it has no entry for the release {names}")
    for release_id, release in releases.items():
        if release_id not in RELEASES or any(u.kind == "B" for u in release.updates):
            continue
        if _last_supported_day(release) >= data_date:
            raise ValueError(
                f"the catalog is partial: release {release_id!r} ({release.name}) has no B (Patch Tuesday) update, "
                f"although it is supported on the catalog's data date {data_date.isoformat()}"
            )


def default_catalog_path() -> pathlib.Path:
    """The catalog shipped with the collection: ``<collection>/data/catalog.json``."""
    return pathlib.Path(__file__).resolve().parents[2] / "data" / "catalog.json"


_CACHE: dict[tuple[str, int, int], Catalog] = {}
_CACHE_LOCK = threading.Lock()


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate a catalog file (the shipped one by default); cached by (path, mtime, size)."""
    target = pathlib.Path(path) if path is not None else default_catalog_path()
    try:
        stat = target.stat()
    except OSError as exc:
        raise CatalogError(f"Failed to load the catalog {target}: {exc.strerror or exc}") from None
    key = (str(target.resolve()), stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"Failed to load the catalog {target}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"Failed to load the catalog {target}: not valid JSON ({exc})") from None
    catalog = parse_catalog(data, source=str(target), path=str(target))
    with _CACHE_LOCK:
        # keep only the newest version of each path
        for stale in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[stale]
        _CACHE[key] = catalog
    return catalog


def dump_catalog(catalog: Catalog | Mapping[str, Any]) -> str:
    """The canonical text of a catalog: compact JSON, sorted keys, one trailing newline."""
    data = catalog.to_dict() if isinstance(catalog, Catalog) else catalog
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def build_catalog(
    releases: Iterable[CatalogRelease],
    *,
    generated_at: str,
    sources: Iterable[str],
    data_date: datetime.date | None = None,
) -> Catalog:
    """Assemble a catalog from releases (validated through :func:`parse_catalog` on the way)."""
    rels = {rel.release_id: rel for rel in releases}
    if data_date is None:
        data_date = max((u.date for rel in rels.values() for u in rel.updates if u.kind == "B"), default=None)
        if data_date is None:
            raise CatalogError("Failed to build the catalog: no release has any B (Patch Tuesday) update")
    raw = {
        "schema": SCHEMA,
        "data_date": data_date.isoformat(),
        "generated_at": generated_at,
        "sources": sorted(set(sources)),
        "releases": {rid: rel.to_dict() for rid, rel in sorted(rels.items())},
    }
    return parse_catalog(raw, source="<built>")


def compare_catalogs(old: Catalog, new: Catalog) -> list[str]:
    """The reasons ``new`` must not replace ``old`` (empty when it may): older, partial or shrinking data."""
    problems: list[str] = []
    if new.data_date < old.data_date:
        problems.append(
            f"its data_date {new.data_date.isoformat()} is older than the current {old.data_date.isoformat()}"
        )
    missing = sorted(set(old.releases) - set(new.releases))
    if missing:
        problems.append(f"it lacks the releases {', '.join(missing)}")
    for release_id, old_rel in sorted(old.releases.items()):
        new_rel = new.releases.get(release_id)
        if new_rel is None:
            continue
        lost = sorted({u.kb for u in old_rel.updates} - {u.kb for u in new_rel.updates})
        if lost:
            problems.append(f"release {release_id} lost the updates {', '.join(lost)}")
        old_newest, new_newest = old_rel.newest_build(), new_rel.newest_build()
        if old_newest and (new_newest is None or new_newest < old_newest):
            problems.append(f"release {release_id} would go back from build {'.'.join(map(str, old_newest))}")
    return problems
