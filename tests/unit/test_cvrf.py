# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The CVRF converter against the four real MSRC documents saved in ../shared/data/msrc-cvrf.

The expected values are read from each document here with ElementTree and a product table written out in this
file, independently of the converter's own parsing and product mapping.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _catalog, _cvrf
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError
from tests.tools.msrc_api import xml_to_json

DATA = pathlib.Path(
    os.environ.get("WINPATCH_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
DOCS = ["2026-Mar", "2026-Apr", "2026-May", "2026-Jun"]
V = "{http://www.icasi.org/CVRF/schema/vuln/1.1}"
P = "{http://www.icasi.org/CVRF/schema/prod/1.1}"

# Product names exactly as MSRC writes them -> release id (test-side table)
PRODUCTS = {
    "Windows 10 Version 1607 for 32-bit Systems": "windows_10_1607",
    "Windows 10 Version 1607 for x64-based Systems": "windows_10_1607",
    "Windows 10 Version 1809 for 32-bit Systems": "windows_10_1809",
    "Windows 10 Version 1809 for x64-based Systems": "windows_10_1809",
    "Windows 10 Version 21H2 for 32-bit Systems": "windows_10_21h2",
    "Windows 10 Version 21H2 for ARM64-based Systems": "windows_10_21h2",
    "Windows 10 Version 21H2 for x64-based Systems": "windows_10_21h2",
    "Windows 10 Version 22H2 for 32-bit Systems": "windows_10_22h2",
    "Windows 10 Version 22H2 for ARM64-based Systems": "windows_10_22h2",
    "Windows 10 Version 22H2 for x64-based Systems": "windows_10_22h2",
    "Windows 11 Version 22H2 for ARM64-based Systems": "windows_11_22h2",
    "Windows 11 Version 22H2 for x64-based Systems": "windows_11_22h2",
    "Windows 11 Version 23H2 for ARM64-based Systems": "windows_11_23h2",
    "Windows 11 Version 23H2 for x64-based Systems": "windows_11_23h2",
    "Windows 11 Version 24H2 for ARM64-based Systems": "windows_11_24h2",
    "Windows 11 Version 24H2 for x64-based Systems": "windows_11_24h2",
    "Windows 11 Version 25H2 for ARM systems": "windows_11_25h2",
    "Windows 11 Version 25H2 for ARM64-based Systems": "windows_11_25h2",
    "Windows 11 Version 25H2 for x64-based Systems": "windows_11_25h2",
    "Windows 11 Version 26H1 for ARM64-based Systems": "windows_11_26h1",
    "Windows 11 version 26H1 for x64-based Systems": "windows_11_26h1",
    "Windows Server 2016": "windows_server_2016",
    "Windows Server 2016 (Server Core installation)": "windows_server_2016",
    "Windows Server 2019": "windows_server_2019",
    "Windows Server 2019 (Server Core installation)": "windows_server_2019",
    "Windows Server 2022": "windows_server_2022",
    "Windows Server 2022 (Server Core installation)": "windows_server_2022",
    "Windows Server 2022, 23H2 Edition (Server Core installation)": "windows_server_23h2",
    "Windows Server 2025": "windows_server_2025",
    "Windows Server 2025 (Server Core installation)": "windows_server_2025",
}
MAJORS = {
    "windows_10_1607": 14393,
    "windows_10_1809": 17763,
    "windows_10_21h2": 19044,
    "windows_10_22h2": 19045,
    "windows_11_22h2": 22621,
    "windows_11_23h2": 22631,
    "windows_11_24h2": 26100,
    "windows_11_25h2": 26200,
    "windows_11_26h1": 28000,
    "windows_server_2016": 14393,
    "windows_server_2019": 17763,
    "windows_server_2022": 20348,
    "windows_server_23h2": 25398,
    "windows_server_2025": 26100,
}
LCU_SUBTYPES = {"Security Update", "Security Hotpatch Update", "SecurityHotpatchUpdate"}


def _path(doc_id: str) -> pathlib.Path:
    return DATA / "msrc-cvrf" / f"{doc_id}.xml"


def expected_from_document(path: pathlib.Path) -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """(kept, refused): (release id, KB, FixedBuild) per Vendor Fix of a tracked product, read with ElementTree."""
    root = ET.parse(path).getroot()  # noqa: S314 - saved test data
    names = {p.get("ProductID"): (p.text or "").strip() for p in root.iter(P + "FullProductName")}
    kept, refused = set(), set()
    for rem in root.iter(V + "Remediation"):
        if rem.get("Type") != "Vendor Fix" or (rem.findtext(V + "SubType") or "") not in LCU_SUBTYPES:
            continue
        kb = "KB" + (rem.findtext(V + "Description") or "").strip()
        fixed = rem.findtext(V + "FixedBuild") or ""
        for pid in rem.iter(V + "ProductID"):
            release = PRODUCTS.get(names.get(pid.text, ""))
            if release is None:
                continue
            parts = fixed.split(".")
            if len(parts) == 4 and parts[:2] == ["10", "0"] and parts[2] == str(MAJORS[release]):
                kept.add((release, kb, fixed))
            else:
                refused.add((release, kb, fixed))
    return kept, refused


@pytest.fixture(scope="module")
def documents() -> dict[str, _cvrf.CvrfDocument]:
    return {doc_id: _cvrf.read_document_file(str(_path(doc_id))) for doc_id in DOCS}


@pytest.mark.parametrize("doc_id", DOCS)
def test_converter_matches_the_document(documents, doc_id):
    kept, refused = expected_from_document(_path(doc_id))
    conversion = _cvrf.convert(documents[doc_id])
    got = {(u.release_id, u.kb, ".".join(map(str, u.build))) for u in conversion.updates}
    assert kept, "the document holds Windows LCU remediations"
    assert got == kept
    # everything refused is reported with its product, KB and reason
    for release, kb, fixed in refused:
        assert any(kb in line and repr(fixed) in line for line in conversion.dropped), (release, kb, fixed)
    assert documents[doc_id].id == doc_id
    assert all(u.date == documents[doc_id].initial_release.date() for u in conversion.updates)


def test_known_values_of_the_march_document(documents):
    updates = {(u.release_id, u.kb): u for u in _cvrf.convert(documents["2026-Mar"]).updates}
    # Server 2025 has its own UBR stream from 2026-01; Windows 11 24H2 shares KB and UBR with 25H2
    assert updates["windows_server_2025", "KB5078740"].build == (10, 0, 26100, 32522)
    assert updates["windows_11_24h2", "KB5079473"].build == (10, 0, 26100, 8037)
    assert updates["windows_11_25h2", "KB5079473"].build == (10, 0, 26200, 8037)
    assert updates["windows_11_24h2", "KB5079420"].kind == "HOTPATCH"
    assert updates["windows_11_24h2", "KB5079420"].build == (10, 0, 26100, 7979)
    assert updates["windows_server_2025", "KB5078740"].kind == "B"
    assert updates["windows_server_2025", "KB5078740"].supersedes  # Supercedence is carried
    assert updates["windows_server_2025", "KB5078740"].cve_count > 20
    assert ("windows_11_25h2", "KB5084597") in updates  # hotpatch on x64 ...
    dropped = _cvrf.convert(documents["2026-Mar"]).dropped
    # ... but the ARM product row states a 26100 build for 25H2 (26200): refused, with the reason
    assert (
        "2026-Mar: Windows 11 Version 25H2 for ARM systems KB5084597: FixedBuild '10.0.26100.7982' has build "
        "major 26100, not 26200 of windows_11_25h2" in dropped
    )


@pytest.mark.parametrize("doc_id", ["2026-Mar", "2026-Jun"])
def test_json_form_converts_like_the_xml_form(documents, doc_id):
    data = xml_to_json(_path(doc_id))
    from_json = _cvrf.parse_document(json.dumps(data), source=f"{doc_id}.json")
    assert from_json.form == "json" and from_json.id == doc_id
    assert _cvrf.convert(from_json).updates == _cvrf.convert(documents[doc_id]).updates


@pytest.mark.parametrize(
    ("name", "release"),
    [
        ("Windows 11 Version 24H2 for x64-based Systems", "windows_11_24h2"),
        ("Windows Server 2025 (Server Core installation)", "windows_server_2025"),
        ("Windows 10 Version 1607 for x64-based Systems", "windows_10_1607"),
        ("Windows Server 2022, 23H2 Edition (Server Core installation)", "windows_server_23h2"),
        ("Windows Server 2022 Datacenter: Azure Edition (Hotpatch)", "windows_server_2022"),
        ("windows 11 version 21H2 for ARM64-based Systems", "windows_11_21h2"),
        ("Windows Server 2012 R2", None),
        ("Windows 10 Version 20H2 for x64-based Systems", None),
        ("Windows 11 Version 26H1 for x64-based Systems - extra", None),
        ("Windows ADK for Windows 11, version 24H2", None),
    ],
)
def test_product_mapping(name, release):
    assert _cvrf.map_product(name) == release


@pytest.mark.parametrize(
    ("value", "release", "build", "reason"),
    [
        ("10.0.26100.8037", "windows_11_24h2", (10, 0, 26100, 8037), ""),
        ("10.0.22000.3250\u200b\u200b\u200b", "windows_11_21h2", (10, 0, 22000, 3250), ""),
        ("0.0.26200.4652", "windows_11_25h2", (10, 0, 26200, 4652), ""),
        ("0.0.26200.4652", "windows_11_24h2", None, "has build major 26200, not 26100 of windows_11_24h2"),
        ("10.0.19041.5000\u200b", "windows_10_21h2", None, "has build major 19041, not 19044 of windows_10_21h2"),
        ("5.15.202.1-1", "windows_server_2025", None, "is not a Windows build number"),
        ("", "windows_server_2025", None, "is not a Windows build number"),
    ],
)
def test_fixed_build_cleaning(value, release, build, reason):
    got, why = _cvrf.clean_fixed_build(value, release)
    assert got == build
    assert reason in why and bool(why) == bool(reason)


def test_not_a_cvrf_document_is_refused(tmp_path):
    cases = {
        "feed.xml": ("<rss><channel/></rss>", "not a CVRF document (root element 'rss', expected cvrf:cvrfdoc)"),
        "notes.txt": ("hello", "not a CVRF document (neither XML nor JSON)"),
        "other.json": ('{"value": []}', "not a CVRF document (no DocumentTracking/Vulnerability)"),
        "cut.xml": (_path("2026-Mar").read_text(encoding="utf-8")[:5000], "not well-formed XML"),
        "dtd.xml": ('<!DOCTYPE x [<!ENTITY a "b">]><x/>', "XML with a DTD or entity declarations is not accepted"),
    }
    for name, (text, cause) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(CatalogError) as err:
            _cvrf.read_document_file(str(path))
        assert str(err.value).startswith(f"Failed to read the CVRF document {path}: {cause}")


def test_document_without_release_date_is_refused():
    data = xml_to_json(_path("2026-Mar"))
    data["DocumentTracking"]["InitialReleaseDate"] = "soon"
    with pytest.raises(CatalogError, match=r"^Failed to read the CVRF document x\.json: InitialReleaseDate is not a "):
        _cvrf.parse_document(data, source="x.json")


def test_stray_reference_in_an_old_document_is_not_dated_by_it():
    """A KB named for one CVE in an old document is dated by the document where it fixes the most CVEs."""
    day = datetime.date
    old = _cvrf.CvrfUpdate(
        "windows_11_24h2", "KB5000001", (10, 0, 26100, 9000), "B", day(2023, 4, 11), "2023-Apr", (), 1, ()
    )
    own = _cvrf.CvrfUpdate(
        "windows_11_24h2", "KB5000001", (10, 0, 26100, 9000), "B", day(2026, 7, 14), "2026-Jul", (), 57, ()
    )
    assert _cvrf.pick_cvrf_evidence([old, own])["windows_11_24h2", "KB5000001"].document == "2026-Jul"


def test_refresh_lists_the_documents_in_date_order(documents):
    """Offline, a directory is read alphabetically (2026-Jun before 2026-May); the result is in date order."""
    data = json.loads(_catalog.default_catalog_path().read_text(encoding="utf-8"))
    for release in data["releases"].values():
        release["updates"] = [u for u in release["updates"] if u["date"] < "2026-05-01"]
    data["data_date"] = max(u["date"] for r in data["releases"].values() for u in r["updates"] if u["kind"] == "B")
    current = _catalog.parse_catalog(data)
    alphabetical = [documents["2026-Jun"], documents["2026-May"]]
    refresh = _cvrf.refresh_catalog(current, alphabetical, generated_at="2026-12-03T00:00:00Z")
    assert refresh.documents == ["2026-May", "2026-Jun"]
    assert refresh.months_added == ["2026-05", "2026-06"]


def _catalog_before(day: str) -> _catalog.Catalog:
    """The shipped catalog cut back to the updates before ``day``: an older, valid catalog."""
    data = json.loads(_catalog.default_catalog_path().read_text(encoding="utf-8"))
    for release in data["releases"].values():
        release["updates"] = [u for u in release["updates"] if u["date"] < day]
    data["data_date"] = max(u["date"] for r in data["releases"].values() for u in r["updates"] if u["kind"] == "B")
    return _catalog.parse_catalog(data)


@pytest.mark.parametrize(
    ("doc_ids", "skipped"),
    [
        (["2026-May"], "2026-03, 2026-04"),
        (["2026-Mar", "2026-May"], "2026-04"),
        (["2026-Jun"], "2026-03, 2026-04, 2026-05"),
    ],
)
def test_refresh_refuses_documents_that_skip_months(documents, doc_ids, skipped):
    current = _catalog_before("2026-03-01")
    assert current.data_month == "2026-02"
    with pytest.raises(CatalogError) as err:
        _cvrf.refresh_catalog(current, [documents[d] for d in doc_ids], generated_at="2026-12-03T00:00:00Z")
    assert str(err.value) == (
        f"Failed to update the catalog: the documents skip {skipped} after the catalog's 2026-02; "
        "add those months' documents"
    )


def test_refresh_accepts_contiguous_months(documents):
    current = _catalog_before("2026-03-01")
    refresh = _cvrf.refresh_catalog(
        current, [documents["2026-Apr"], documents["2026-Mar"]], generated_at="2026-12-03T00:00:00Z"
    )
    assert refresh.changed and refresh.months_added == ["2026-03", "2026-04"]
    assert refresh.catalog.data_month == "2026-04"


def test_update_index_is_recognised():
    index = json.loads((DATA / "msrc-cvrf" / "updates-index_20260706T222806Z.json").read_text(encoding="utf-8"))
    assert _cvrf.is_update_index(index)
    assert not _cvrf.is_update_index({"value": []})  # nothing to recognise it by
    assert not _cvrf.is_update_index({"value": [{"ID": "2026-Jun"}]})  # no CvrfUrl
    assert not _cvrf.is_update_index({"value": [*index["value"], "x"]})
    assert not _cvrf.is_update_index(xml_to_json(_path("2026-Mar")))


def test_read_documents_skips_the_update_index_only(tmp_path):
    index = DATA / "msrc-cvrf" / "updates-index_20260706T222806Z.json"
    copy = tmp_path / index.name
    copy.write_bytes(index.read_bytes())
    docs, skipped = _cvrf.read_documents([str(_path("2026-Mar")), str(copy)])
    assert [d.id for d in docs] == ["2026-Mar"]
    assert skipped == [{"path": str(copy), "reason": _cvrf.UPDATE_INDEX_REASON}]
    assert _cvrf.UPDATE_INDEX_REASON == "the MSRC update index (the API's /updates answer), not a CVRF document"
    other = tmp_path / "other.json"
    other.write_text('{"value": [{"ID": "2026-Jun"}]}', encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        _cvrf.read_documents([str(copy), str(other)])
    assert (
        str(err.value)
        == f"Failed to read the CVRF document {other}: not a CVRF document (no DocumentTracking/Vulnerability)"
    )


def test_months_between_crosses_the_year():
    assert _cvrf._months_between("2025-11", "2026-02") == ["2025-12", "2026-01", "2026-02"]
    assert _cvrf._months_between("2026-02", "2026-02") == []
