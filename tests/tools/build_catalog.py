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
where a source showed only one of them, and the checkpoint LCUs of the 26100 family are marked (``_cvrf.CHECKPOINTS``).
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

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _catalog, _cvrf
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


def read_cvrf(data: pathlib.Path) -> tuple[list[_cvrf.CvrfUpdate], list[str], list[str]]:
    """CVRF statements: the raw XML documents through the converter, the remediation table for the other months."""
    statements: list[_cvrf.CvrfUpdate] = []
    dropped: list[str] = []
    sources: list[str] = []
    raw_ids = set()
    for path in sorted((data / "msrc-cvrf").glob("*.xml")):
        document = _cvrf.read_document_file(str(path))
        conversion = _cvrf.convert(document)
        statements.extend(conversion.updates)
        dropped.extend(conversion.dropped)
        raw_ids.add(document.id)
        sources.append(f"msrc-cvrf:{document.id}")
    table = data / "msrc-cvrf" / "windows-os-remediations_2023-01_2026-06.csv"
    grouped: dict[tuple[str, str, tuple[int, int, int, int], str, str], dict] = {}
    with table.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["cvrf_id"] in raw_ids:
                continue  # the raw document was read above
            release_id = _cvrf.map_product(row["product_name"])
            kind = _cvrf.SUBTYPE_KINDS.get(row["subtype"].strip().lower())
            if release_id is None or kind is None:
                continue
            build, reason = _cvrf.clean_fixed_build(row["fixed_build"], release_id)
            kb = "KB" + row["kb"].strip()
            if build is None:
                dropped.append(f"{row['cvrf_id']}: {row['product_name']} {kb}: {reason}")
                continue
            key = (release_id, kb, build, kind, row["cvrf_id"])
            entry = grouped.setdefault(key, {"date": row["initial_release"][:10], "cves": 0, "sup": set()})
            entry["cves"] = max(entry["cves"], int(row["cve_count"]))
            if row["supercedence"].strip().isdigit():
                entry["sup"].add("KB" + row["supercedence"].strip())
            sources.append(f"msrc-cvrf:{row['cvrf_id']}")
    for (release_id, kb, build, kind, doc_id), entry in sorted(grouped.items()):
        statements.append(
            _cvrf.CvrfUpdate(
                release_id,
                kb,
                build,
                kind,
                datetime.date.fromisoformat(entry["date"]),
                doc_id,
                tuple(sorted(entry["sup"])),
                entry["cves"],
                (),
            )
        )
    return statements, sorted(set(dropped)), sorted(set(sources))


def add_cvrf_only(merged: dict[str, dict[str, Merged]], statements: list[_cvrf.CvrfUpdate]) -> None:
    """KBs only CVRF knows: dated by their strongest document, kept only where they fit the release's build order."""
    for (release_id, kb), ev in sorted(_cvrf.pick_cvrf_evidence(statements).items()):
        have = merged[release_id].get(kb)
        if have is not None:
            if have.build != ev.build:
                LOG.info("%s %s: CVRF %s says %s, kept %s", release_id, kb, ev.document, ev.build, have.build)
            have.sources.add(f"msrc-cvrf:{ev.document}")
            continue
        if ev.date < FIRST_DATE:
            continue
        kind = ev.kind
        if kind == "B" and ev.date != _second_tuesday(ev.date.year, ev.date.month):
            kind = "OOB"
        # a security LCU must sit between the builds released before and after it; otherwise the document only
        # mentions it (old documents are revised to reference new KBs)
        if kind != "HOTPATCH":
            lcus = [m for m in merged[release_id].values() if m.kind != "HOTPATCH"]
            if any(m.date == ev.date and m.kind == kind for m in lcus):
                LOG.info(
                    "dropped %s %s: %s already has its %s release of %s", release_id, kb, release_id, kind, ev.date
                )
                continue
            before = max((m.build for m in lcus if m.date < ev.date), default=None)
            after = min((m.build for m in lcus if m.date > ev.date), default=None)
            if (before and ev.build <= before) or (after and ev.build >= after):
                LOG.info(
                    "dropped %s %s %s: document %s (%s) does not fit the build order",
                    release_id,
                    kb,
                    ev.build,
                    ev.document,
                    ev.date,
                )
                continue
        LOG.info(
            "CVRF only: %s %s %s %s %s (%s, %d CVEs)",
            release_id,
            kb,
            ev.build,
            kind,
            ev.date,
            ev.document,
            ev.cve_count,
        )
        merged[release_id][kb] = Merged(release_id, kb, ev.build, ev.date, kind, {f"msrc-cvrf:{ev.document}"})


def generate(data: pathlib.Path, generated_at: str) -> _catalog.Catalog:
    evidence = read_release_history(data)
    merged = merge(evidence)
    statements, dropped, cvrf_sources = read_cvrf(data)
    for reason in dropped:
        LOG.info("CVRF dropped: %s", reason)
    add_cvrf_only(merged, statements)
    by_release: dict[str, dict[str, _catalog.Update]] = {}
    for release_id, items in merged.items():
        by_release[release_id] = {}
        for kb, m in items.items():
            checkpoint, prereqs = _cvrf.checkpoint_fields(release_id, kb, m.date, m.kind)
            by_release[release_id][kb] = _catalog.Update(
                m.date, m.date.strftime("%Y-%m"), kb, m.build, m.kind, checkpoint, prereqs
            )
    fill_log: list[str] = []
    filled = _cvrf.fill_streams(by_release, fill_log)
    for line in fill_log:
        LOG.info("%s", line)
    LOG.warning(
        "evidence rows: %d, CVRF statements: %d (dropped %d), stream fills: %d",
        len(evidence),
        len(statements),
        len(dropped),
        filled,
    )
    sources = ["release-history.csv", "alitai12-windows-updatelist", "thkn-hofa", "zentrixlabs", *cvrf_sources]
    return _catalog.build_catalog(_cvrf.releases_from(by_release), generated_at=generated_at, sources=sources)


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
