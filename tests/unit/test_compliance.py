# SPDX-License-Identifier: GPL-3.0-or-later
"""The compliance core against the shipped catalog and the real release history.

The key test walks every (release, B release) row since 2023 of shared/data/release-history.csv: a host at that
build is ``current`` a few days after the release date, and ``behind`` once the next B release's grace has passed.
Expected lifecycles come from the static release table (``_releases``), not from the catalog under test.
"""

from __future__ import annotations

import copy
import csv
import datetime
import functools
import json
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import (
    default_catalog_path,
    load_catalog,
    parse_catalog,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._compliance import STATES, assess, unreachable_result
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError, PolicyError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import add_months, patch_tuesday
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES, edition_group

TODAY = datetime.date.today()
GRACE = 14
RESULT_KEYS = {
    "state",
    "release",
    "release_id",
    "build",
    "expected_build",
    "expected_kb",
    "months_behind",
    "reason",
    "catalog_date",
    "catalog_stale",
    "missing_months",
    "baseline_month",
    "end_of_support",
}


def shared_data() -> Path:
    env = os.environ.get("WINPATCH_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@functools.cache
def catalog():
    return load_catalog()


def values(build: int, ubr: int | str, itype: str = "Client", edition: str = "Professional", **extra):
    return {"CurrentBuild": str(build), "UBR": ubr, "InstallationType": itype, "EditionID": edition, **extra}


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# --- the walk over release-history.csv --------------------------------------------------------------------------

RETIRED = object()
# os_release in the CSV -> (release id, [(InstallationType, EditionID), ...]) chosen to match who runs it.
OS_RELEASES: dict[str, tuple[object, list[tuple[str, str]]]] = {
    "Windows 10 1607": ("windows_10_1607", [("Client", "EnterpriseS")]),  # LTSB 2016
    "Windows 10 1809": ("windows_10_1809", [("Client", "EnterpriseS"), ("Client", "IoTEnterpriseS")]),  # LTSC 2019
    "Windows 10 20H2": (RETIRED, [("Client", "Enterprise")]),
    "Windows 10 21H2": ("windows_10_21h2", [("Client", "EnterpriseS"), ("Client", "IoTEnterpriseS")]),  # LTSC 2021
    "Windows 10 22H2": ("windows_10_22h2", [("Client", "Professional"), ("Client", "Enterprise")]),
    "Windows 11 21H2": ("windows_11_21h2", [("Client", "Enterprise")]),
    "Windows 11 22H2": ("windows_11_22h2", [("Client", "Enterprise")]),
    "Windows 11 23H2": ("windows_11_23h2", [("Client", "Enterprise"), ("Client", "Professional")]),
    "Windows 11 24H2": ("windows_11_24h2", [("Client", "Professional"), ("Client", "EnterpriseS")]),  # + LTSC 2024
    "Windows 11 25H2": ("windows_11_25h2", [("Client", "Enterprise")]),
    "Windows 11 26H1": ("windows_11_26h1", [("Client", "Professional")]),
    "Windows Server 2016": ("windows_server_2016", [("Server", "ServerStandard"), ("Server Core", "ServerDatacenter")]),
    "Windows Server 2019": ("windows_server_2019", [("Server", "ServerStandard"), ("Server Core", "ServerDatacenter")]),
    "Windows Server 2022": ("windows_server_2022", [("Server", "ServerDatacenterAzureEdition"), ("Server Core", "")]),
    "Windows Server 23H2": ("windows_server_23h2", [("Server Core", "ServerDatacenterACor")]),
    "Windows Server 2025": ("windows_server_2025", [("Server", "ServerDatacenter"), ("Server Core", "ServerStandard")]),
    "Windows Server, version 20H2": (RETIRED, [("Server Core", "ServerDatacenterACor")]),
}


@functools.cache
def history_rows() -> list[dict[str, str]]:
    path = shared_data() / "release-history.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def rows_since_2023(kind: str) -> dict[str, list[dict[str, str]]]:
    by_release: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in history_rows():
        if row["update_type"] == kind and row["release_date"] >= "2023-01-01":
            by_release[row["os_release"]].append(row)
    for rows in by_release.values():
        rows.sort(key=lambda r: (r["release_date"], int(r["ubr"])))
    return by_release


def expected_support(release_id: str, edition: str, as_of: datetime.date, esu: bool) -> bool:
    """Oracle from the static release table: is this edition of the release supported on ``as_of``?"""
    info = RELEASES[release_id]
    group = edition_group(edition)
    chain = {"iot_ltsc": ["iot_ltsc", "ltsc", "enterprise", "default"], "ltsc": ["ltsc", "enterprise", "default"]}
    for candidate in chain.get(group, [group, "default"]):
        if candidate in info.lifecycle:
            end = info.lifecycle[candidate]
            break
    if end is None or as_of <= day(end):
        return True
    return bool(esu and info.esu_end and group in ("default", "enterprise") and as_of <= day(info.esu_end))


def test_every_csv_release_name_since_2023_is_mapped():
    names = {row["os_release"] for row in history_rows() if row["release_date"] >= "2023-01-01"}
    assert names <= set(OS_RELEASES), sorted(names - set(OS_RELEASES))


@pytest.mark.parametrize("os_release", sorted(OS_RELEASES))
def test_walk_release_history(os_release):
    rows = rows_since_2023("B").get(os_release, [])
    assert rows, f"no B rows since 2023 for {os_release}"
    release_id, variants = OS_RELEASES[os_release]
    failures: list[str] = []
    checked = defaultdict(int)
    for index, row in enumerate(rows):
        build, ubr, kb, released = int(row["build_major"]), int(row["ubr"]), row["kb"], day(row["release_date"])
        month = row["release_date"][:7]
        later = [r for r in rows[index + 1 :] if r["release_date"][:7] > month]
        # when the next B release is not in the data yet: Microsoft ships one every Patch Tuesday
        next_release = day(later[0]["release_date"]) if later else patch_tuesday(add_months(month, 1))
        checks = [("current", min(released + datetime.timedelta(days=3), TODAY))]
        behind_day = next_release + datetime.timedelta(days=GRACE + 1)
        if behind_day <= TODAY:
            checks.append(("behind", behind_day))
        for itype, edition in variants:
            for esu in (False, True) if release_id == "windows_10_22h2" else (False,):
                for wanted, as_of in checks:
                    result = assess(values(build, ubr, itype, edition), catalog(), as_of=as_of, esu=esu)
                    label = f"{os_release} {edition or '-'} {build}.{ubr} {kb} as_of={as_of} esu={esu}"
                    if release_id is RETIRED or not expected_support(release_id, edition, as_of, esu):
                        want = "unsupported"
                    else:
                        want = wanted
                    checked[want] += 1
                    if result["state"] != want:
                        failures.append(f"{label}: {result['state']} != {want}: {result['reason']}")
                        continue
                    if want == "current" and result["expected_kb"] != kb and result["baseline_month"] == month:
                        failures.append(f"{label}: expected_kb {result['expected_kb']} != {kb}")
                    if want == "behind" and not result["months_behind"] >= 1:
                        failures.append(f"{label}: behind with months_behind={result['months_behind']}")
                    if want == "unsupported" and release_id is not RETIRED and result["end_of_support"] is None:
                        failures.append(f"{label}: unsupported without end_of_support")
    assert not failures, f"{len(failures)} of {sum(checked.values())} checks failed:\n" + "\n".join(failures[:40])
    assert sum(checked.values()) >= 2 * len(rows)
    if release_id is not RETIRED and release_id != "windows_server_23h2":
        assert checked["current"] and checked["behind"], dict(checked)


def test_walk_covers_the_server_2025_split_and_the_shared_families():
    rows = rows_since_2023("B")
    server_2026 = [r for r in rows["Windows Server 2025"] if r["release_date"] >= "2026-01"]
    client_2026 = [r for r in rows["Windows 11 24H2"] if r["release_date"] >= "2026-01"]
    assert server_2026 and all(int(r["ubr"]) >= 32230 for r in server_2026)
    assert client_2026 and all(int(r["ubr"]) < 32230 for r in client_2026)
    # the same KB/UBR under two releases (22H2/23H2, 24H2/25H2, 21H2/22H2, 1607/2016, 1809/2019) is walked twice
    kbs = defaultdict(set)
    for name, release_rows in rows.items():
        for row in release_rows:
            kbs[(row["kb"], row["ubr"])].add(name)
    shared = {frozenset(names) for names in kbs.values() if len(names) > 1}
    for pair in (
        {"Windows 11 24H2", "Windows 11 25H2"},
        {"Windows 10 21H2", "Windows 10 22H2"},
        {"Windows 10 1607", "Windows Server 2016"},
        {"Windows 10 1809", "Windows Server 2019"},
    ):
        assert any(pair <= names for names in shared), pair


def test_server_2025_and_windows_11_24h2_diverge_in_2026():
    as_of = day("2026-01-30")
    server_on_client_numbering = assess(values(26100, 7623, "Server", "ServerDatacenter"), catalog(), as_of=as_of)
    assert server_on_client_numbering["state"] == "behind"
    assert (server_on_client_numbering["expected_kb"], server_on_client_numbering["expected_build"]) == (
        "KB5073379",
        "10.0.26100.32230",
    )
    client = assess(values(26100, 7623, "Client", "Enterprise"), catalog(), as_of=as_of)
    assert (client["state"], client["expected_kb"], client["release"]) == ("current", "KB5074109", "Windows 11 24H2")
    server = assess(values(26100, 32230, "Server Core", "ServerStandard"), catalog(), as_of=as_of)
    assert (server["state"], server["release"]) == ("current", "Windows Server 2025")


@pytest.mark.parametrize(
    "os_release", ["Windows 11 24H2", "Windows 11 25H2", "Windows Server 2025", "Windows Server 2022"]
)
def test_walk_hotpatch_months(os_release):
    rows = rows_since_2023("HOTPATCH")[os_release]
    release_id, variants = OS_RELEASES[os_release]
    itype = variants[0][0]
    edition = "Enterprise" if itype == "Client" else "ServerDatacenterAzureEdition"
    failures = []
    for row in rows:
        as_of = day(row["release_date"]) + datetime.timedelta(days=3)
        host = values(int(row["build_major"]), int(row["ubr"]), itype, edition, hotpatch_enrolled=True)
        accepted = assess(host, catalog(), as_of=as_of, hotpatch="accept")
        ignored = assess(host, catalog(), as_of=as_of, hotpatch="ignore")
        label = f"{os_release} {row['kb']} {row['ubr']} as_of={as_of}"
        if not expected_support(release_id, edition, as_of, False):
            if (accepted["state"], ignored["state"]) != ("unsupported", "unsupported"):
                failures.append(f"{label}: past end of support but {accepted['state']}/{ignored['state']}")
        elif accepted["state"] != "current":
            failures.append(f"{label}: accept gave {accepted['state']}: {accepted['reason']}")
        elif row["kb"] not in accepted["reason"]:
            failures.append(f"{label}: the reason does not name the hotpatch KB: {accepted['reason']}")
        if ignored["state"] == "current":
            failures.append(f"{label}: ignore still gave current: {ignored['reason']}")
    assert len(rows) >= 5
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("release_id", ["windows_11_24h2", "windows_11_25h2", "windows_server_2025"])
def test_checkpoint_prerequisites_are_exposed(release_id):
    info = RELEASES[release_id]
    itype = "Server" if info.family == "server" else "Client"
    rel = catalog().release(release_id)
    checked = 0
    for update in rel.updates:
        if update.kind != "B" or update.date < day("2024-10-01"):
            continue
        as_of = update.date + datetime.timedelta(days=GRACE + 1)
        result = assess(values(info.build_major, 1000, itype, "Enterprise"), catalog(), as_of=as_of)
        assert result["state"] == "behind", result["reason"]
        assert result["expected_kb"] == update.kb
        assert result["expected_prerequisites"] == list(update.prerequisites)
        # the 2024-09 checkpoint KB5043080 is a prerequisite of every later LCU of the 26100 family (windows-facts.md)
        assert "KB5043080" in result["expected_prerequisites"], (update.kb, result["expected_prerequisites"])
        checked += 1
    assert checked >= 10


def test_known_checkpoint_example_from_the_notes():
    # "2024-12 KB5048667 requires the 2024-09 checkpoint KB5043080"
    result = assess(values(26100, 2314, "Client", "Enterprise"), catalog(), as_of=day("2024-12-30"))
    assert (result["state"], result["expected_kb"]) == ("behind", "KB5048667")
    assert result["expected_prerequisites"] == ["KB5043080"]


# --- states and their semantics -----------------------------------------------------------------------------------


def test_result_has_the_agreed_keys_for_every_state():
    outcomes = [
        assess(values(26100, 7623, "Client", "Enterprise"), catalog(), as_of=day("2026-01-20")),
        assess(values(26100, 7462, "Client", "Enterprise"), catalog(), as_of=day("2026-01-20")),
        assess(values(26100, 7462, "Client", "Enterprise"), catalog(), as_of=day("2026-02-20")),
        assess(values(26100, 7462, "Client", "Enterprise", pending_reboot=True), catalog(), as_of=day("2026-02-20")),
        assess(values(18363, 720), catalog(), as_of=day("2026-02-20")),
        assess(values(26100, "x"), catalog(), as_of=day("2026-02-20")),
        unreachable_result("Failed to connect to 127.0.0.5:5985: connection refused", catalog()),
    ]
    assert [r["state"] for r in outcomes] == [
        "current",
        "grace",
        "behind",
        "pending_reboot",
        "unsupported",
        "error",
        "unreachable",
    ]
    for result in outcomes:
        assert set(result) >= RESULT_KEYS
        assert result["state"] in STATES
        assert result["reason"] and result["reason"].endswith(".")
        assert result["catalog_date"] == catalog().data_date.isoformat()
        json.dumps(result)  # plain data only


def test_grace_then_behind_then_tolerated():
    host = values(26100, 7462, "Client", "Enterprise")  # 2025-12 B
    jan = day("2026-01-13")
    in_grace = assess(host, catalog(), as_of=jan + datetime.timedelta(days=GRACE))
    assert (in_grace["state"], in_grace["months_behind"], in_grace["expected_kb"]) == ("grace", 1, "KB5074109")
    assert "2026-01-27" in in_grace["reason"]
    after = assess(host, catalog(), as_of=jan + datetime.timedelta(days=GRACE + 1))
    assert (after["state"], after["months_behind"]) == ("behind", 1)
    shorter = assess(host, catalog(), as_of=jan + datetime.timedelta(days=3), grace_days=2)
    assert shorter["state"] == "behind"
    tolerated = assess(host, catalog(), as_of=day("2026-02-20"), months_tolerated=1)
    assert (tolerated["state"], tolerated["months_behind"]) == ("grace", 2)
    assert "months_tolerated is 1" in tolerated["reason"]
    not_enough = assess(host, catalog(), as_of=day("2026-03-30"), months_tolerated=1)
    assert (not_enough["state"], not_enough["months_behind"]) == ("behind", 3)


def test_pending_reboot_only_below_the_baseline():
    below = values(26100, 7462, "Client", "Enterprise", pending_reboot=True)
    assert assess(below, catalog(), as_of=day("2026-02-20"))["state"] == "pending_reboot"
    at = values(26100, 7840, "Client", "Enterprise", pending_reboot=True)
    assert assess(at, catalog(), as_of=day("2026-02-20"))["state"] == "current"


def test_build_facts_result_shape_is_accepted():
    facts = {
        "computer_name": "WIN-0001",
        "registry": {"CurrentBuild": "26100", "UBR": 7462, "InstallationType": "Client", "EditionID": "Enterprise"},
        "pending_reboot": {"any": True, "cbs_reboot_pending": True},
        "hotpatch": {"enrolled": False},
    }
    result = assess(facts, catalog(), as_of=day("2026-02-20"))
    assert (result["state"], result["release_id"]) == ("pending_reboot", "windows_11_24h2")


def test_preview_and_out_of_band_builds_count_as_their_month():
    # 2026-01: B 7623, OOB 7627/7628; D 26100.8328 on 2026-04-30 is after the 2026-04 B 8246
    oob = assess(values(26100, 7628, "Client", "Enterprise"), catalog(), as_of=day("2026-02-27"))
    assert (oob["state"], oob["months_behind"], oob["installed_month"]) == ("behind", 1, "2026-01")
    between = assess(values(26100, 8300, "Client", "Enterprise"), catalog(), as_of=day("2026-05-05"))
    assert (between["state"], between["installed_month"]) == ("current", "2026-04")


def test_build_lower_than_anything_in_the_catalog():
    first = catalog().release("windows_server_2022").security_updates()[0]
    result = assess(values(20348, 1, "Server", "ServerStandard"), catalog(), as_of=day("2026-03-30"))
    assert result["state"] == "behind"
    assert result["installed_month"] is None
    assert "older than every" in result["reason"] and "at least" in result["reason"]
    # every month from the first catalogued one up to the baseline
    assert result["months_behind"] == len(_months(first.month, "2026-03"))


def _months(start: str, end: str) -> list[str]:
    out = [start]
    while out[-1] < end:
        out.append(add_months(out[-1], 1))
    return out


def test_fixed_baseline_month():
    host = values(20348, 5139, "Server", "ServerStandard")  # 2026-05 B of Server 2022
    result = assess(host, catalog(), as_of=day("2026-09-30"), baseline="2026-05")
    assert (result["state"], result["baseline_month"], result["expected_kb"]) == ("current", "2026-05", "KB5087545")
    assert assess(host, catalog(), as_of=day("2026-09-30"), baseline="2026-06")["state"] == "behind"


def test_windows_10_esu():
    stalled = values(19045, 6456, "Client", "Professional")  # the Oct-2025 baseline, last before end of support
    no_esu = assess(stalled, catalog(), as_of=day("2026-03-30"))
    assert no_esu["state"] == "unsupported"
    assert "esu: true" in no_esu["reason"] and no_esu["end_of_support"] == "2025-10-14"
    esu = assess(stalled, catalog(), as_of=day("2026-03-30"), esu=True)
    assert esu["state"] == "behind" and "ESU not activated?" in esu["reason"]
    assert esu["end_of_support"] == "2028-10-10"
    before_end = assess(stalled, catalog(), as_of=day("2025-10-20"), esu=True)
    assert (before_end["state"], before_end["end_of_support"]) == ("current", "2028-10-10")
    patched = assess(values(19045, 7058, "Client", "Enterprise"), catalog(), as_of=day("2026-03-30"), esu=True)
    assert patched["state"] == "current" and "ESU not activated" not in patched["reason"]
    moving_but_behind = assess(values(19045, 6575), catalog(), as_of=day("2026-03-30"), esu=True)
    assert moving_but_behind["state"] == "behind" and "ESU not activated" not in moving_but_behind["reason"]
    # the LTSC editions follow their own lifecycle and need no ESU
    ltsc = assess(values(19044, 7058, "Client", "EnterpriseS"), catalog(), as_of=day("2026-03-30"))
    assert ltsc["state"] == "current"


def test_release_past_end_of_support_is_unsupported():
    result = assess(values(22000, 3260, "Client", "Professional"), catalog(), as_of=day("2024-01-20"))
    assert (result["state"], result["end_of_support"]) == ("unsupported", "2023-10-10")
    enterprise = assess(values(22000, 3260, "Client", "Enterprise"), catalog(), as_of=day("2024-01-20"))
    assert enterprise["state"] != "unsupported"


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        (values(18363, 720), "Windows 10 1909"),
        (values(26300, 1000), "not a Windows release"),
        (values(22631, 1000, "Server"), "matches no known release"),
    ],
)
def test_unknown_and_retired_releases_are_unsupported(host, fragment):
    result = assess(host, catalog(), as_of=day("2026-03-30"))
    assert result["state"] == "unsupported"
    assert fragment in result["reason"]
    assert result["months_behind"] is None and result["expected_kb"] is None


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ({"CurrentBuild": "26100.7171", "UBR": 1, "InstallationType": "Client"}, "CurrentBuild"),
        ({"CurrentBuild": "26100", "InstallationType": "Client"}, "UBR is missing"),
        ({"CurrentBuild": "26100", "UBR": "seven", "InstallationType": "Client"}, "UBR"),
        ({"UBR": 1}, "CurrentBuild (or CurrentBuildNumber) is missing"),
        ({"CurrentBuild": "26100", "UBR": 1}, "InstallationType is missing"),
        ({"CurrentBuild": "26100", "UBR": 1, "InstallationType": "Client", "pending_reboot": "perhaps"}, "pending_reb"),
        ("10.0.26100.7171", "mapping"),
        (None, "mapping"),
    ],
)
def test_malformed_input_is_an_error_state_not_an_exception(host, fragment):
    result = assess(host, catalog(), as_of=day("2026-03-30"))
    assert result["state"] == "error"
    assert fragment in result["reason"]
    assert result["months_behind"] is None


def test_future_as_of_is_a_policy_error():
    with pytest.raises(PolicyError, match="as_of"):
        assess(values(26100, 7623), catalog(), as_of=TODAY + datetime.timedelta(days=1))


def test_bad_policy_raises_before_touching_the_host():
    with pytest.raises(PolicyError, match="hotpatch"):
        assess("not even a mapping", catalog(), hotpatch="maybe")


# --- stale and partial catalogs -----------------------------------------------------------------------------------


def test_stale_catalog_never_quietly_reports_current():
    cat = catalog()
    as_of = day("2026-12-03") if day("2026-12-03") <= TODAY else TODAY
    rel = cat.release("windows_server_2022")
    newest_b = rel.security_updates()[-1]
    result = assess(values(20348, newest_b.ubr, "Server", "ServerStandard"), cat, as_of=as_of)
    assert result["catalog_stale"] is True
    assert result["missing_months"] and result["missing_months"][0] == add_months(cat.data_month, 1)
    assert result["state"] == "behind"
    assert result["expected_kb"] is None and result["expected_build"] is None
    assert result["months_behind"] == len(result["missing_months"])
    for month in result["missing_months"]:
        assert month in result["reason"]
    assert "hygiene.winpatch.catalog_update" in result["reason"]


def test_stale_catalog_within_grace_of_the_missing_month():
    cat = catalog()
    missing = add_months(cat.data_month, 1)
    as_of = patch_tuesday(missing) + datetime.timedelta(days=5)
    if as_of > TODAY:
        pytest.skip(f"{as_of} is in the future")
    newest_b = cat.release("windows_server_2022").security_updates()[-1]
    result = assess(values(20348, newest_b.ubr, "Server"), cat, as_of=as_of)
    assert (result["state"], result["months_behind"], result["catalog_stale"]) == ("grace", 1, True)
    assert result["missing_months"] == [missing]


def test_host_newer_than_the_catalog_is_current_only_with_the_warning():
    result = assess(values(20348, 99999, "Server Core"), catalog(), as_of=day("2026-12-03"))
    assert result["state"] == "current"
    assert result["catalog_stale"] is True
    assert "newer than every update" in result["reason"] and "catalog is stale" in result["reason"]


def test_every_result_mentions_a_stale_catalog():
    cat = catalog()
    for host in (values(18363, 1), values(26100, "bad"), values(20348, 1, "Server")):
        result = assess(host, cat, as_of=day("2026-12-03"))
        assert result["catalog_stale"] is True and "catalog is stale" in result["reason"], result


def test_fresh_catalog_is_not_stale():
    cat = catalog()
    result = assess(values(20348, 1, "Server"), cat, as_of=cat.data_date)
    assert (result["catalog_stale"], result["missing_months"]) == (False, [])
    assert "catalog is stale" not in result["reason"]


def _catalog_dict() -> dict:
    return json.loads(Path(default_catalog_path()).read_text(encoding="utf-8"))


def test_release_missing_months_inside_the_catalog_is_never_current():
    # a partial catalog: Server 2022 stops at 2026-03 although the catalog claims data up to its data_date
    data = _catalog_dict()
    rel = data["releases"]["windows_server_2022"]
    rel["updates"] = [u for u in rel["updates"] if u["month"] <= "2026-03"]
    partial = parse_catalog(data, source="partial")
    as_of = partial.data_date + datetime.timedelta(days=1)
    at_march = assess(values(20348, 4893, "Server"), partial, as_of=as_of)
    assert at_march["state"] == "behind"
    assert at_march["expected_kb"] is None
    months = ["2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]
    assert (at_march["catalog_stale"], at_march["missing_months"]) == (True, months)
    assert at_march["reason"].endswith(
        "the catalog lacks 2026-04 .. 2026-09 (6 months) for Windows Server 2022: "
        "refresh it with hygiene.winpatch.catalog_update."
    )
    newer = assess(values(20348, 5622, "Server"), partial, as_of=as_of)
    assert newer["state"] == "current" and "newer than every update" in newer["reason"]
    assert newer["catalog_stale"] is True and "the catalog lacks 2026-04 .. 2026-09" in newer["reason"]


def test_catalog_without_a_release_fails_naming_the_file_and_release(tmp_path):
    data = _catalog_dict()
    del data["releases"]["windows_server_2025"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        assess(values(26100, 33438, "Server"), catalog_path=str(path), as_of=day("2026-09-20"))
    assert str(err.value) == (
        f"Failed to load the catalog {path}: the catalog is partial: it has no entry for the release "
        "windows_server_2025 (Windows Server 2025)"
    )


def test_catalog_with_a_supported_release_emptied_fails(tmp_path):
    data = _catalog_dict()
    data["releases"]["windows_11_24h2"]["updates"] = []
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        assess(values(26100, 9168), catalog_path=str(path), as_of=day("2026-09-20"))
    assert str(err.value) == (
        f"Failed to load the catalog {path}: the catalog is partial: release 'windows_11_24h2' (Windows 11 24H2) has "
        "no B (Patch Tuesday) update, although it is supported on the catalog's data date 2026-09-08"
    )


def test_corrupt_catalog_is_a_clear_failure(tmp_path):
    broken = tmp_path / "catalog.json"
    broken.write_text('{"schema": 1, "data_date": "2026-09-08", "releases": {', encoding="utf-8")
    with pytest.raises(CatalogError, match=re.escape(str(broken))):
        assess(values(26100, 7623), catalog_path=str(broken), as_of=day("2026-09-20"))
    truncated = copy.deepcopy(_catalog_dict())
    truncated["releases"] = {}
    (tmp_path / "empty.json").write_text(json.dumps(truncated), encoding="utf-8")
    with pytest.raises(CatalogError):
        assess(values(26100, 7623), catalog_path=str(tmp_path / "empty.json"), as_of=day("2026-09-20"))
    with pytest.raises(CatalogError, match=r"nope\.json"):
        assess(values(26100, 7623), catalog_path=str(tmp_path / "nope.json"))


def test_default_catalog_is_the_shipped_one():
    result = assess(values(20348, 5622, "Server"), as_of=day("2026-09-20"))
    assert result["catalog_date"] == catalog().data_date.isoformat()
    assert result["state"] == "current"


def test_unreachable_result_without_catalog():
    result = unreachable_result("Failed to connect to 127.0.0.9:5986: timed out")
    assert set(result) >= RESULT_KEYS
    assert (result["state"], result["catalog_date"], result["catalog_stale"]) == ("unreachable", None, None)


def test_month_missing_in_the_middle_of_a_release():
    data = _catalog_dict()
    rel = data["releases"]["windows_server_2022"]
    rel["updates"] = [u for u in rel["updates"] if u["month"] != "2026-04"]
    gap = parse_catalog(data, source="gap")
    later = assess(values(20348, 5139, "Server"), gap, as_of=day("2026-06-30"), baseline="2026-04")
    assert (later["state"], later["expected_kb"], later["installed_month"]) == ("current", None, "2026-05")
    assert (later["catalog_stale"], later["missing_months"]) == (True, ["2026-04"])
    assert later["reason"] == (
        "Windows Server 2022 10.0.20348.5139 has the 2026-05 update, which covers the 2026-04 baseline; the catalog "
        "lacks 2026-04 for Windows Server 2022: refresh it with hygiene.winpatch.catalog_update."
    )
    earlier = assess(values(20348, 4893, "Server"), gap, as_of=day("2026-06-30"), baseline="2026-04")
    assert (earlier["state"], earlier["expected_kb"], earlier["months_behind"]) == ("behind", None, 1)


# --- per-release coverage of the shipped catalog (data up to 2026-09-08, but not for every release) ---------------


def test_shipped_catalog_lacks_the_baseline_for_24h2_so_the_host_is_never_quietly_current():
    # 24H2/25H2 have no 2026-09 B in the shipped catalog although the catalog holds 2026-09 for other releases
    for build in (26100, 26200):
        at_august = assess(values(build, 9168, edition="Enterprise"), catalog(), as_of=day("2026-09-20"))
        assert (at_august["state"], at_august["catalog_stale"], at_august["missing_months"]) == (
            "grace",
            True,
            ["2026-09"],
        )
        assert (at_august["expected_kb"], at_august["months_behind"]) == (None, 1)
        name = "Windows 11 24H2" if build == 26100 else "Windows 11 25H2"
        assert at_august["reason"].endswith(
            f"the catalog lacks 2026-09 for {name}: refresh it with hygiene.winpatch.catalog_update."
        )
        past_grace = assess(values(build, 9168, edition="Enterprise"), catalog(), as_of=day("2026-10-01"))
        assert (past_grace["state"], past_grace["catalog_stale"]) == ("behind", True)
    newer = assess(values(26100, 9200, edition="Enterprise"), catalog(), as_of=day("2026-09-20"))
    assert (newer["state"], newer["catalog_stale"], newer["missing_months"]) == ("current", True, ["2026-09"])
    assert "the catalog lacks 2026-09 for Windows 11 24H2" in newer["reason"]


def test_release_lacking_months_adds_them_to_a_globally_stale_catalog():
    result = assess(values(26100, 9168, edition="Enterprise"), catalog(), as_of=day("2026-12-03"))
    assert (result["state"], result["catalog_stale"]) == ("behind", True)
    assert result["missing_months"] == ["2026-09", "2026-10", "2026-11"]
    assert "the catalog lacks 2026-09 for Windows 11 24H2" in result["reason"]
    assert "the catalog is stale (data up to 2026-09-08, missing 2026-10, 2026-11)" in result["reason"]


def test_26h1_lacks_every_month_after_2026_06():
    result = assess(values(28000, 2269), catalog(), as_of=day("2026-09-20"))
    assert (result["state"], result["catalog_stale"]) == ("behind", True)
    assert result["missing_months"] == ["2026-07", "2026-08", "2026-09"]
    assert "the catalog lacks 2026-07, 2026-08, 2026-09 for Windows 11 26H1" in result["reason"]


def test_release_that_has_the_baseline_is_not_stale():
    result = assess(values(26100, 33438, "Server"), catalog(), as_of=day("2026-09-20"))
    assert (result["state"], result["catalog_stale"], result["missing_months"]) == ("current", False, [])
    assert "lacks" not in result["reason"]


def test_months_after_the_end_of_support_are_not_missing():
    # Windows 11 24H2 Home/Pro ended on 2026-10-13: the host is unsupported and 2026-09 is not counted as missing
    result = assess(values(26100, 9168), catalog(), as_of=day("2026-12-03"))
    assert result["state"] == "unsupported"
    assert result["missing_months"] == ["2026-10", "2026-11"]
    assert "lacks" not in result["reason"]


# --- reason wording: what is tolerated, and only the missing months that matter -----------------------------------


def test_behind_within_grace_says_the_grace_excuses_only_the_baseline_month():
    result = assess(values(20348, 5256, "Server"), catalog(), as_of=day("2026-09-12"))
    assert (result["state"], result["months_behind"]) == ("behind", 3)
    assert result["reason"] == (
        "Windows Server 2022 10.0.20348.5256 has the 2026-06 update, 3 months behind (the 14-day grace of 2026-09, "
        "until 2026-09-22, excuses only the 2026-09 update itself, and months_tolerated is 0); "
        "expected KB5122882 (10.0.20348.5622) for 2026-09."
    )
    assert "allowed" not in result["reason"]


def test_behind_after_grace_names_months_tolerated():
    result = assess(values(20348, 5256, "Server"), catalog(), as_of=day("2026-09-30"), months_tolerated=1)
    assert (result["state"], result["months_behind"]) == ("behind", 3)
    assert "(the 14-day grace of 2026-09 ended 2026-09-22, and months_tolerated allows 1 month(s));" in result["reason"]


def test_fixed_baseline_before_the_missing_months_does_not_mention_them():
    result = assess(values(20348, 5256, "Server"), catalog(), as_of=day("2026-12-03"), baseline="2026-08")
    assert (result["state"], result["catalog_stale"], result["missing_months"]) == (
        "behind",
        True,
        ["2026-10", "2026-11"],
    )
    assert result["reason"] == (
        "Windows Server 2022 10.0.20348.5256 has the 2026-06 update, 2 months behind (the 14-day grace of 2026-08 "
        "ended 2026-08-25); expected KB5120242 (10.0.20348.5499) for 2026-08."
    )
    current = assess(values(20348, 5622, "Server"), catalog(), as_of=day("2026-12-03"), baseline="2026-09")
    assert current["state"] == "current" and "stale" not in current["reason"]


def test_latest_baseline_names_only_the_missing_months_the_host_misses():
    # The host is newer than the catalog: only the missing baseline month matters, not 2026-10.
    result = assess(values(20348, 99999, "Server"), catalog(), as_of=day("2026-12-03"))
    assert result["state"] == "current"
    assert "the catalog is stale (data up to 2026-09-08, missing 2026-11): " in result["reason"]
    behind = assess(values(20348, 5256, "Server"), catalog(), as_of=day("2026-12-03"))
    assert "the catalog is stale (data up to 2026-09-08, missing 2026-10, 2026-11): " in behind["reason"]
