# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Generate ``data/catalog.json`` from the real data in ``../shared/data`` (deterministic).

Usage (from the repository root, with PYTHONPATH set as in docs/developing.md)::

    python -m tests.tools.build_catalog [--data DIR] [--out data/catalog.json] [--generated-at ISO] [-v]

Evidence, highest precedence first (the same order as the merged table's ``source`` column):

1. Microsoft's release-information tables (alitai12 rows of ``release-history.csv``): build, date and kind.
2. support.microsoft.com update-history titles (thkn rows): build, date, preview/out-of-band flags.
3. MSRC CVRF: the raw XML documents in ``msrc-cvrf/`` read by our converter (``_cvrf.py``), and the remediation
   table extracted from the 42 documents 2023-Jan .. 2026-Jun. KB -> FixedBuild per product; the date of a KB comes
   from 1./2. when they know it, otherwise from the document in which the KB carries the most CVEs (old documents
   are revised to reference new KBs, so a document's own month proves nothing on its own).
4. ZentrixLabs snapshots and hand-recorded rows (as they appear in ``release-history.csv``).

Then releases that share a servicing stream are filled from one another (same KB, same UBR, own build major)
where a source showed only one of them, and the checkpoint LCUs of the 26100 family are marked (see CHECKPOINTS).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import logging
import os
import pathlib
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _catalog
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES

LOG = logging.getLogger("build_catalog")
REPO = pathlib.Path(__file__).resolve().parents[2]
FIRST_DATE = datetime.date(2022, 1, 1)  # older rows are not needed by any supported release's baseline

# release-history.csv os_release -> our release id (rows of retired releases are skipped)
CSV_RELEASES = {
    "Windows 10 1607": "windows_10_1607",
    "Windows 10 1809": "windows_10_1809",
    "Windows 10 21H2": "windows_10_21h2",
    "Windows 10 22H2": "windows_10_22h2",
    "Windows 11 21H2": "windows_11_21h2",
    "Windows 11 22H2": "windows_11_22h2",
    "Windows 11 23H2": "windows_11_23h2",
    "Windows 11 24H2": "windows_11_24h2",
    "Windows 11 25H2": "windows_11_25h2",
    "Windows 11 26H1": "windows_11_26h1",
    "Windows Server 2016": "windows_server_2016",
    "Windows Server 2019": "windows_server_2019",
    "Windows Server 2022": "windows_server_2022",
    "Windows Server 23H2": "windows_server_23h2",
    "Windows Server 2025": "windows_server_2025",
}

# Releases that receive the same LCU (same KB and UBR) and the window in which they do. A member is only filled
# inside its own window: not before it was released, not after its last supported day (ESU included), and Server
# 2025 left the 26100 client stream with the 2026-01 LCU (data README section 1).
STREAM_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("windows_10_1607", "windows_server_2016"),
    ("windows_10_1809", "windows_server_2019"),
    ("windows_10_21h2", "windows_10_22h2"),
    ("windows_11_22h2", "windows_11_23h2"),
    ("windows_11_24h2", "windows_11_25h2", "windows_server_2025"),
)
SERVER_2025_OWN_STREAM = datetime.date(2026, 1, 1)
FILL_WINDOWS: dict[str, tuple[datetime.date, datetime.date]] = {
    # (first day, last day) in which a release takes its family's LCUs; release dates from the release tables
    "windows_11_23h2": (datetime.date(2023, 10, 31), datetime.date(2026, 11, 10)),
    "windows_11_25h2": (datetime.date(2025, 9, 30), datetime.date(2028, 10, 10)),
    "windows_server_2025": (datetime.date(2024, 11, 1), datetime.date(2025, 12, 31)),
}

# Checkpoint cumulative updates of the 26100 family (Windows 11 24H2/25H2, Server 2025). A later LCU only holds the
# deltas since the newest checkpoint before it, so every checkpoint up to it is a prerequisite.
# Source: Microsoft KB5048667 article (December 10, 2024, OS Build 26100.2605), "Catalog" section: "This update
# has prerequisite(s): KB5043080 must be installed before installing this update" — quoted in
# ../shared/notes/windows-facts.md ("2024-12 KB5048667 requires the 2024-09 checkpoint KB5043080").
CHECKPOINTS: dict[str, tuple[tuple[str, datetime.date], ...]] = {
    "26100": (("KB5043080", datetime.date(2024, 9, 10)),),
}
CHECKPOINT_RELEASES = ("windows_11_24h2", "windows_11_25h2", "windows_server_2025")

_PRECEDENCE = {"alitai12": 1, "thkn-hofa": 2, "msrc-cvrf": 3, "cvrf-xml": 3, "zentrix": 4}


@dataclass
class Evidence:
    release_id: str
    kb: str
    build: tuple[int, int, int, int]
    date: datetime.date | None
    kind: str | None  # None: the source does not know (CVRF security update: B unless dated off-cycle)
    source: str
    precedence: int
    weight: int = 0  # CVRF: number of CVEs carrying this remediation in the document


@dataclass
class Merged:
    release_id: str
    kb: str
    build: tuple[int, int, int, int]
    date: datetime.date
    kind: str
    sources: set[str] = field(default_factory=set)


def shared_data_dir(explicit: str | None = None) -> pathlib.Path:
    if explicit:
        return pathlib.Path(explicit)
    if os.environ.get("WINPATCH_SHARED_DATA"):
        return pathlib.Path(os.environ["WINPATCH_SHARED_DATA"])
    return (REPO / ".." / "shared" / "data").resolve()


def _precedence(source: str) -> int:
    head = source.split("|")[0]
    for prefix, rank in _PRECEDENCE.items():
        if head.startswith(prefix):
            return rank
    return 5  # hand-recorded rows quoting Microsoft titles


def _second_tuesday(year: int, month: int) -> datetime.date:
    first = datetime.date(year, month, 1)
    return first + datetime.timedelta(days=(1 - first.weekday()) % 7 + 7)


def read_release_history(data: pathlib.Path) -> list[Evidence]:
    """Rows of the merged table for the releases we know, from FIRST_DATE on."""
    found: list[Evidence] = []
    with (data / "release-history.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            release_id = CSV_RELEASES.get(row["os_release"])
            if release_id is None or not row["kb"] or row["update_type"] not in _catalog.KINDS:
                continue
            date = datetime.date.fromisoformat(row["release_date"])
            if date < FIRST_DATE:
                continue
            build = (10, 0, int(row["build_major"]), int(row["ubr"]))
            if build[2] != RELEASES[release_id].build_major:
                LOG.info("skip %s %s: build %s is not %s", release_id, row["kb"], build, release_id)
                continue
            source = row["source"]
            found.append(Evidence(release_id, row["kb"], build, date, row["update_type"], source, _precedence(source)))
    return found


def merge(evidence: list[Evidence]) -> dict[str, dict[str, Merged]]:
    """One entry per (release, KB): build from the best source, date/kind from the best dated source."""
    grouped: dict[tuple[str, str], list[Evidence]] = defaultdict(list)
    for item in evidence:
        grouped[(item.release_id, item.kb)].append(item)
    merged: dict[str, dict[str, Merged]] = defaultdict(dict)
    for (release_id, kb), items in sorted(grouped.items()):
        items.sort(key=lambda e: (e.precedence, -e.weight, e.source))
        best = items[0]
        builds = {e.build for e in items}
        if len(builds) > 1:
            LOG.info(
                "%s %s: sources disagree on the build (%s); keeping %s from %s",
                release_id,
                kb,
                ", ".join(".".join(map(str, b)) for b in sorted(builds)),
                ".".join(map(str, best.build)),
                best.source.split("|")[0],
            )
        dated = [e for e in items if e.date is not None and e.kind is not None]
        if dated:
            date, kind = dated[0].date, dated[0].kind
        else:
            # CVRF only: the date of the document where this KB carries the most CVEs
            cvrf = sorted(items, key=lambda e: (-e.weight, e.source))[0]
            date = cvrf.date
            kind = "B" if date == _second_tuesday(date.year, date.month) else "OOB"
        assert date is not None and kind is not None
        merged[release_id][kb] = Merged(release_id, kb, best.build, date, kind, {e.source for e in items})
    return merged


def fill_streams(merged: dict[str, dict[str, Merged]]) -> int:
    """Copy an LCU to the other members of its servicing family where no source showed it; returns the count."""
    added = 0
    for family in STREAM_FAMILIES:
        for target in family:
            info = RELEASES[target]
            first, last = FILL_WINDOWS.get(target, (datetime.date.min, _last_day(target)))
            known_builds = {m.build[3] for m in merged[target].values()}
            for donor in family:
                if donor == target:
                    continue
                for kb, item in sorted(merged[donor].items()):
                    if kb in merged[target] or not first <= item.date <= last:
                        continue
                    if "windows_server_2025" in (donor, target) and item.date >= SERVER_2025_OWN_STREAM:
                        continue
                    if RELEASES[donor].family != info.family and item.kind != "B":
                        continue  # previews, out-of-band fixes and hotpatches can be client- or server-only
                    if item.build[3] in known_builds:
                        continue  # the target already has this UBR under another KB: a source disagrees, keep ours
                    build = (10, 0, info.build_major, item.build[3])
                    merged[target][kb] = Merged(target, kb, build, item.date, item.kind, {f"stream-fill:{donor}"})
                    added += 1
                    LOG.info("fill %s %s %s from %s", target, kb, ".".join(map(str, build)), donor)
    return added


def _last_day(release_id: str) -> datetime.date:
    info = RELEASES[release_id]
    dates = [datetime.date.fromisoformat(d) for d in info.lifecycle.values() if d]
    if info.esu_end:
        dates.append(datetime.date.fromisoformat(info.esu_end))
    return max(dates) if dates else datetime.date.max


def build_releases(merged: dict[str, dict[str, Merged]]) -> list[_catalog.CatalogRelease]:
    releases = []
    for release_id, info in RELEASES.items():
        items = sorted(merged.get(release_id, {}).values(), key=lambda m: (m.date, m.build, m.kb))
        checkpoints = CHECKPOINTS.get("26100", ()) if release_id in CHECKPOINT_RELEASES else ()
        updates = []
        for item in items:
            is_checkpoint = any(kb == item.kb for kb, _ in checkpoints)
            prereqs = tuple(kb for kb, day in checkpoints if day < item.date and kb != item.kb)
            if item.kind == "HOTPATCH":
                prereqs = ()  # hotpatches apply on top of their quarter's baseline, not a checkpoint chain
            updates.append(
                _catalog.Update(
                    item.date, item.date.strftime("%Y-%m"), item.kb, item.build, item.kind, is_checkpoint, prereqs
                )
            )
        releases.append(
            _catalog.CatalogRelease(
                release_id=release_id,
                name=info.name,
                family=info.family,
                build_major=info.build_major,
                installation_types=info.installation_types,
                stream=info.stream,
                lifecycle={k: (datetime.date.fromisoformat(v) if v else None) for k, v in info.lifecycle.items()},
                esu_end=datetime.date.fromisoformat(info.esu_end) if info.esu_end else None,
                hotpatch=info.hotpatch,
                updates=tuple(updates),
            )
        )
    return releases


def generate(data: pathlib.Path, generated_at: str) -> _catalog.Catalog:
    evidence = read_release_history(data)
    sources = {"release-history.csv"}
    merged = merge(evidence)
    filled = fill_streams(merged)
    LOG.warning("evidence rows: %d, stream fills: %d", len(evidence), filled)
    return _catalog.build_catalog(build_releases(merged), generated_at=generated_at, sources=sorted(sources))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the shared data directory (default: ../shared/data or $WINPATCH_SHARED_DATA)")
    parser.add_argument("--out", default=str(REPO / "data" / "catalog.json"))
    parser.add_argument("--generated-at", default="2026-12-03T00:00:00Z", help="fixed, so the output is reproducible")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    catalog = generate(shared_data_dir(args.data), args.generated_at)
    out = pathlib.Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(_catalog.dump_catalog(catalog), encoding="utf-8")
    tmp.replace(out)
    print(
        f"wrote {out}: data_date {catalog.data_date}, {sum(len(r.updates) for r in catalog.releases.values())} updates"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
