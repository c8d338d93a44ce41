# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The shipped catalog against the real data, and the loader's refusal of broken catalogs."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import pathlib

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _catalog
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES
from tests.tools import build_catalog

DATA = pathlib.Path(
    os.environ.get("WINPATCH_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
CSV_NAMES = build_catalog.CSV_RELEASES
D = datetime.date


@pytest.fixture(scope="module")
def catalog() -> _catalog.Catalog:
    return _catalog.load_catalog()


@pytest.fixture(scope="module")
def history_b_rows() -> list[dict[str, str]]:
    with (DATA / "release-history.csv").open(encoding="utf-8", newline="") as handle:
        return [
            row
            for row in csv.DictReader(handle)
            if row["update_type"] == "B" and row["release_date"] >= "2023-01-01" and row["os_release"] in CSV_NAMES
        ]


def test_shipped_catalog_is_what_the_generator_makes():
    """data/catalog.json is reproducible from ../shared/data (deterministic output)."""
    built = build_catalog.generate(DATA, "2026-12-03T00:00:00Z")
    assert _catalog.dump_catalog(built) == _catalog.default_catalog_path().read_text(encoding="utf-8")


def test_every_release_with_its_lifecycle(catalog):
    assert set(catalog.releases) == set(RELEASES)
    for release_id, info in RELEASES.items():
        rel = catalog.release(release_id)
        assert rel.build_major == info.build_major and rel.stream == info.stream
        assert {k: (v.isoformat() if v else None) for k, v in rel.lifecycle.items()} == info.lifecycle
        assert (rel.esu_end.isoformat() if rel.esu_end else None) == info.esu_end
        assert rel.installation_types == info.installation_types
    assert catalog.data_date == D(2026, 9, 8)
    assert catalog.release("windows_10_22h2").esu_end == D(2028, 10, 10)


def test_every_b_row_since_2023_is_in_the_catalog(catalog, history_b_rows):
    assert len(history_b_rows) > 500
    for row in history_b_rows:
        rel = catalog.release(CSV_NAMES[row["os_release"]])
        update = rel.by_kb(row["kb"])
        assert update is not None, row
        assert update.kind == "B" and update.date.isoformat() == row["release_date"], row
        builds = {
            int(r["ubr"]) for r in history_b_rows if r["kb"] == row["kb"] and r["os_release"] == row["os_release"]
        }
        assert update.ubr in builds, row


def test_one_b_release_per_month_with_rising_builds(catalog):
    for rel in catalog.releases.values():
        b = rel.security_updates()
        months = [u.month for u in b]
        assert len(months) == len(set(months)), rel.release_id
        assert [u.build for u in b] == sorted(u.build for u in b), rel.release_id


def test_server_2025_leaves_the_24h2_stream_in_2026(catalog):
    server, client = catalog.release("windows_server_2025"), catalog.release("windows_11_24h2")
    assert server.for_month("2026-01", "B")[0].kb == "KB5073379"
    assert server.for_month("2026-01", "B")[0].build == (10, 0, 26100, 32230)
    assert client.for_month("2026-01", "B")[0].build == (10, 0, 26100, 7623)
    assert server.latest().build == (10, 0, 26100, 33438)
    assert all(u.ubr >= 32230 for u in server.updates if u.date >= D(2026, 1, 1) and u.kind == "B")
    # before 2026 they shared KB and UBR
    assert server.for_month("2025-11", "B")[0].build == client.for_month("2025-11", "B")[0].build


def test_shared_streams_are_filled(catalog):
    """Sources show some months for only one release of a servicing stream; the catalog has both."""
    pairs = [
        ("windows_11_24h2", "windows_11_25h2"),
        ("windows_10_21h2", "windows_10_22h2"),
        ("windows_11_22h2", "windows_11_23h2"),
        ("windows_10_1607", "windows_server_2016"),
    ]
    for left, right in pairs:
        a, b = catalog.release(left), catalog.release(right)
        common = {u.month for u in a.security_updates()} & {u.month for u in b.security_updates()}
        assert common, (left, right)
        for month in common:
            ua, ub = a.for_month(month, "B")[0], b.for_month(month, "B")[0]
            if ua.kb == ub.kb:
                assert abs(ua.ubr - ub.ubr) <= 2, (month, ua, ub)  # MSRC data has 1-2 UBR differences in places
    # 24H2 July 2026 B is only shown for 25H2 by the sources
    assert catalog.release("windows_11_24h2").for_month("2026-07", "B")[0].build == (10, 0, 26100, 8875)
    # Windows 10 1607 September 2026 is only shown for Server 2016
    assert catalog.release("windows_10_1607").for_month("2026-09", "B")[0].kb == "KB5123099"


def test_checkpoint_prerequisites(catalog):
    client = catalog.release("windows_11_24h2")
    assert client.by_kb("KB5043080").checkpoint is True
    assert client.by_kb("KB5043080").prerequisites == ()
    assert client.checkpoint_chain("KB5048667") == ("KB5043080",)
    assert catalog.release("windows_server_2025").checkpoint_chain("KB5073379") == ("KB5043080",)
    assert catalog.release("windows_11_25h2").latest().prerequisites == ("KB5043080",)
    # hotpatches and other releases carry no chain
    assert all(not u.prerequisites for u in client.updates if u.kind == "HOTPATCH")
    assert all(not u.prerequisites for u in catalog.release("windows_11_23h2").updates)


def test_hotpatch_months_have_their_own_builds(catalog):
    client = catalog.release("windows_11_24h2")
    may = {u.kind: u for u in client.for_month("2026-05")}
    assert may["HOTPATCH"].kb == "KB5089466" and may["HOTPATCH"].build == (10, 0, 26100, 8390)
    assert may["B"].build == (10, 0, 26100, 8457)
    assert catalog.release("windows_server_2025").for_month("2026-05", "HOTPATCH")[0].ubr == 32772


# --- refusing broken catalogs ---------------------------------------------------------------------------------


def _good() -> dict:
    return json.loads(_catalog.default_catalog_path().read_text(encoding="utf-8"))


def _write(path: pathlib.Path, data) -> pathlib.Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _broken(mutate):
    data = _good()
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        ('{"schema": 1, "releases": {', "not valid JSON (Expecting property name enclosed in double quotes"),
        ("[]", "the document must be a JSON object, got an array"),
        (_broken(lambda d: d.update(schema=2)), "unsupported schema 2 (this collection reads schema 1)"),
        (_broken(lambda d: d.pop("data_date")), "catalog: missing key 'data_date'"),
        (_broken(lambda d: d.update(releases={})), "catalog: 'releases' is empty"),
        (
            _broken(lambda d: d.update(data_date="2026-10-13")),
            "data_date 2026-10-13 is later than the newest B release in the catalog (2026-09-08)",
        ),
        (
            _broken(lambda d: d["releases"]["windows_11_24h2"]["updates"][0].update(build="10.0.26100")),
            "release 'windows_11_24h2' update #0 (KB5039304): build must look like 10.0.26100.6899, got '10.0.26100'",
        ),
        (
            _broken(lambda d: d["releases"]["windows_11_24h2"]["updates"][0].update(build="10.0.22631.4000")),
            "update #0 (KB5039304): build 10.0.22631.4000 does not belong to build major 26100",
        ),
        (
            _broken(lambda d: d["releases"]["windows_server_2022"]["updates"].reverse()),
            "release 'windows_server_2022': updates are not sorted by date, then build",
        ),
        (
            _broken(lambda d: d["releases"]["windows_10_1809"]["updates"][3].update(kind="C")),
            "kind must be one of B, D, OOB, HOTPATCH, got 'C'",
        ),
        (
            _broken(lambda d: d["releases"]["windows_10_1809"].pop("lifecycle")),
            "release 'windows_10_1809': missing key 'lifecycle'",
        ),
        (
            _broken(lambda d: d["releases"]["windows_10_1809"].update(hotpatch="no")),
            "release 'windows_10_1809': 'hotpatch' must be a boolean, got a string",
        ),
        (
            _broken(lambda d: d["releases"]["windows_10_1809"].update(updates={})),
            "release 'windows_10_1809': 'updates' must be an array, got an object",
        ),
        (
            _broken(lambda d: d["releases"]["windows_10_1809"]["updates"][0].update(build=17763.1)),
            "release 'windows_10_1809' update #0 (KB5010196): 'build' must be a string, got a number",
        ),
        (
            _broken(lambda d: d["releases"].pop("windows_server_2025")),
            "the catalog is partial: it has no entry for the release windows_server_2025 (Windows Server 2025)",
        ),
        (
            _broken(lambda d: d["releases"]["windows_11_24h2"].update(updates=[])),
            "the catalog is partial: release 'windows_11_24h2' (Windows 11 24H2) has no B (Patch Tuesday) update, "
            "although it is supported on the catalog's data date 2026-09-08",
        ),
        (
            _broken(
                lambda d: d["releases"]["windows_11_26h1"].update(
                    updates=[u for u in d["releases"]["windows_11_26h1"]["updates"] if u["kind"] != "B"]
                )
            ),
            "release 'windows_11_26h1' (Windows 11 26H1) has no B (Patch Tuesday) update",
        ),
    ],
)
def test_broken_catalog_is_refused_with_its_cause(tmp_path, data, cause):
    path = _write(tmp_path / "catalog.json", data)
    with pytest.raises(CatalogError) as err:
        _catalog.load_catalog(path)
    assert str(err.value).startswith(f"Failed to load the catalog {path}: ")
    assert cause in str(err.value)


def test_release_past_its_end_of_support_may_have_no_updates():
    # Windows Server 23H2 ended on 2025-10-24, before the catalog's data date: an empty entry is not partial
    data = _good()
    data["releases"]["windows_server_23h2"]["updates"] = []
    assert _catalog.parse_catalog(data).release("windows_server_23h2").updates == ()


def test_every_type_message_is_in_json_words():
    # no Python type names (list, dict, str, _AnsibleTagged...) in what a user reads
    with pytest.raises(CatalogError) as err:
        _catalog.parse_catalog([], source="x.json")
    assert str(err.value) == "Failed to load the catalog x.json: the document must be a JSON object, got an array"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CatalogError, match=r"^Failed to load the catalog .*nope\.json: No such file or directory$"):
        _catalog.load_catalog(tmp_path / "nope.json")


def test_cache_follows_the_file(tmp_path):
    path = _write(tmp_path / "catalog.json", _good())
    first = _catalog.load_catalog(path)
    assert _catalog.load_catalog(path) is first
    smaller = _good()
    smaller["releases"]["windows_11_26h1"]["updates"].pop()
    _write(path, smaller)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    second = _catalog.load_catalog(path)
    assert second is not first
    assert len(second.release("windows_11_26h1").updates) == len(first.release("windows_11_26h1").updates) - 1


def test_round_trip_is_exact(catalog):
    assert _catalog.dump_catalog(_catalog.parse_catalog(json.loads(_catalog.dump_catalog(catalog)))) == (
        _catalog.dump_catalog(catalog)
    )


def test_compare_refuses_older_partial_or_shrinking(catalog):
    assert _catalog.compare_catalogs(catalog, catalog) == []
    data = _good()
    older = [u for u in data["releases"]["windows_server_2025"]["updates"] if u["date"] < "2026-09-01"]
    data["releases"]["windows_server_2025"]["updates"] = older
    data["data_date"] = "2026-09-08"  # still claimed by other releases
    smaller = _catalog.parse_catalog(data)
    # parse_catalog refuses a catalog without a known release; compare_catalogs still guards releases it does not know
    # (a catalog written by a newer collection), so drop one from the parsed catalog
    releases = {rid: rel for rid, rel in smaller.releases.items() if rid != "windows_11_26h1"}
    smaller = dataclasses.replace(smaller, releases=releases)
    problems = _catalog.compare_catalogs(catalog, smaller)
    assert "it lacks the releases windows_11_26h1" in problems
    assert "release windows_server_2025 lost the updates KB5122871" in problems
    assert "release windows_server_2025 would go back from build 10.0.26100.33438" in problems


def test_compare_refuses_an_older_catalog(catalog):
    data = _good()
    for release in data["releases"].values():
        release["updates"] = [u for u in release["updates"] if u["date"] < "2026-09-01"]
    data["data_date"] = "2026-08-11"
    older = _catalog.parse_catalog(data)
    problems = _catalog.compare_catalogs(catalog, older)
    assert problems[0] == "its data_date 2026-08-11 is older than the current 2026-09-08"
    assert _catalog.compare_catalogs(older, catalog) == []  # the other way round is a refresh
