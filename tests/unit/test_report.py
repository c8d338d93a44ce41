# SPDX-License-Identifier: GPL-3.0-or-later
"""The report's HTML, CSV and JSON content, from the synthetic history in history_samples."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _report
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._compliance import REFRESH_HINT, assess
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._history import (
    HistoryError,
    make_assessment,
    open_history,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._report import ReportError, write_report
from tests.unit.history_samples import EVIL_HOST, EVIL_REASON, write_sample_history


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_sample_history(tmp_path / "history.sqlite")


_VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})


class _Text(HTMLParser):
    """Text of the elements with an id, and every tag name and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str]] = []
        self._stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.extend((k, v or "") for k, v in attrs)
        if tag in _VOID:
            return
        ident = dict(attrs).get("id")
        self._stack.append(ident)
        if ident:
            self.by_id[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._stack:
            if ident:
                self.by_id[ident] += data


def _rows(html_table: str) -> list[list[str]]:
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", html_table, re.S)
        if "<td" in row
    ]


def _table(html: str, ident: str) -> list[list[str]]:
    match = re.search(rf'<table id="{ident}">(.*?)</table>', html, re.S)
    assert match, f"no table {ident}"
    return _rows(match.group(1))


def test_headline_numbers_and_paths(sample: Path, tmp_path: Path) -> None:
    result = write_report(sample, tmp_path / "out")
    assert result["paths"] == {
        "html": str(tmp_path / "out" / "report.html"),
        "csv": str(tmp_path / "out" / "report.csv"),
        "json": str(tmp_path / "out" / "report.json"),
    }
    assert (result["run_id"], result["hosts"], result["compliant"], result["compliance_rate"]) == (4, 12, 6, 50.0)
    assert result["counts"] == {
        "current": 5,
        "grace": 1,
        "behind": 3,
        "pending_reboot": 1,
        "unsupported": 0,
        "unreachable": 1,
        "error": 1,
    }
    assert (result["catalog_date"], result["catalog_stale"], result["changed"]) == ("2026-09-08", True, True)

    # Same history, same files: nothing changes the second time.
    again = write_report(sample, tmp_path / "out")
    assert (again["changed"], again["changed_formats"]) == (False, [])


def test_json_content(sample: Path, tmp_path: Path) -> None:
    write_report(sample, tmp_path, formats=["json"])
    model = json.loads((tmp_path / "report.json").read_text())
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "report.csv").exists()
    assert [(g["name"], g["hosts"], g["compliant"], g["rate"]) for g in model["by_ring"]] == [
        ("pilot", 3, 3, 100.0),
        ("early", 3, 1, 33.3),
        ("broad", 5, 2, 40.0),
        ("(none)", 1, 0, 0.0),
    ]
    assert [(g["name"], g["rate"]) for g in model["by_site"]] == [
        ("lyon", 40.0),
        ("oslo", 0.0),
        ("paris", 80.0),
        ("(none)", 0.0),
    ]
    assert [(g["name"], g["hosts"], g["rate"]) for g in model["by_release"]] == [
        ("Windows 11 24H2", 5, 80.0),
        ("Windows Server 2022", 5, 40.0),
        # No release known: the error host's answer identified none, the unreachable one was never read.
        ("unknown (not identified)", 1, 0.0),
        ("unknown (not reached)", 1, 0.0),
    ]
    assert [(b["release"], b["build"], b["hosts"]) for b in model["builds"]] == [
        ("Windows 11 24H2", "10.0.26100.6899", 3),
        ("Windows 11 24H2", "10.0.26100.6584", 1),
        ("Windows 11 24H2", "10.0.26100.5000", 1),
        ("Windows Server 2022", "10.0.20348.4171", 2),
        ("Windows Server 2022", "10.0.20348.4052", 2),
        ("Windows Server 2022", "10.0.20348.3500", 1),
    ]
    assert [(h["host"], h["state"], h["months_behind"]) for h in model["laggards"]] == [
        ("paris-04", "behind", 5),
        ("lyon-05", "behind", 3),
        ("lyon-02", "behind", 2),
        ("lyon-03", "pending_reboot", 1),
    ]
    assert [(h["host"], h["reason"]) for h in model["unreachable"]] == [(EVIL_HOST, EVIL_REASON)]
    assert [(t["run_id"], t["compliant"], t["rate"]) for t in model["trend"]] == [
        (1, 3, 25.0),
        (2, 4, 33.3),
        (3, 5, 41.7),
        (4, 6, 50.0),
    ]
    # paris-02 caught up after 7 days, paris-03 and lyon-04 after 14 (lyon-04's unreachable first run is no
    # signal); paris-04, lyon-02, lyon-03 and lyon-05 have been behind since the first run, 21 days before run 4.
    assert model["time_to_compliance"] == {
        "closed": 3,
        "median_days": 14.0,
        "p90_days": 14.0,
        "max_days": 14.0,
        "open": 4,
        "oldest_open_days": 21.0,
        "runs": 4,
    }
    # The run was recorded as stale, but no host's result is: nothing to name as missing.
    assert model["catalog"] == {
        "date": "2026-09-08",
        "stale": True,
        "dates_seen": ["2026-09-08"],
        "stale_hosts": 0,
        "missing_months": [],
        "after_date": {"months": [], "hosts": 0},
        "release_gaps": [],
    }
    # The stored policy has no as_of: the run's day stands in, and says so.
    assert model["policy"] == {
        "baseline": "latest",
        "as_of": "2026-12-01",
        "as_of_source": "run date",
        "baseline_month": None,
        "grace_days": 14,
        "months_tolerated": None,
        "hotpatch": None,
        "esu": None,
    }


def test_csv_content(sample: Path, tmp_path: Path) -> None:
    write_report(sample, tmp_path, formats=["csv"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert len(rows) == 12
    assert list(rows[0]) == list(_report.CSV_COLUMNS)
    by_host = {r["host"]: r for r in rows}
    assert by_host["paris-04"] == {
        "host": "paris-04",
        "site": "paris",
        "ring": "broad",
        "state": "behind",
        "compliant": "false",
        "release": "Windows 11 24H2",
        "release_id": "windows_11_24h2",
        "build": "10.0.26100.5000",
        "expected_build": "10.0.26100.6899",
        "expected_kb": "KB5065426",
        "months_behind": "5",
        "reason": "5 months behind",
        "checked_at": "2026-12-01T08:00:00Z",
        "catalog_date": "2026-09-08",
        "run_id": "4",
    }
    assert by_host[EVIL_HOST]["reason"] == EVIL_REASON
    assert by_host["oslo-01"]["site"] == "" and by_host["oslo-01"]["state"] == "error"


def test_csv_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    with open_history(tmp_path / "h.sqlite") as history:
        history.append([make_assessment("=cmd|' /C calc'!A0", {"state": "error", "reason": "+1+1", "site": "@x"})])
    write_report(tmp_path / "h.sqlite", tmp_path, formats=["csv"])
    row = next(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert (row["host"], row["reason"], row["site"]) == ("'=cmd|' /C calc'!A0", "'+1+1", "'@x")


def test_html_content_and_escaping(sample: Path, tmp_path: Path) -> None:
    write_report(sample, tmp_path, formats=["html"])
    html = (tmp_path / "report.html").read_text()
    parser = _Text()
    parser.feed(html)
    text = parser.by_id
    assert text["kpi-hosts"] == "12"
    assert text["kpi-rate"] == "50.0 %"
    assert (text["kpi-current"], text["kpi-behind"], text["kpi-unreachable"]) == ("5", "3", "1")
    assert text["catalog-date"] == "2026-09-08"
    assert "Stale catalog." in text["stale-catalog"]
    assert _table(html, "ring-table")[0][:4] == ["pilot", "3", "3", "100.0 %"]
    assert [r[0] for r in _table(html, "laggards-table")] == ["paris-04", "lyon-05", "lyon-02", "lyon-03"]
    assert [r[2] for r in _table(html, "laggards-table")] == ["5", "3", "2", "1"]
    assert [r[4] for r in _table(html, "trend-table")] == ["50.0 %", "41.7 %", "33.3 %", "25.0 %"]
    assert "median 14.0 days" in " ".join(text["ttc"].split())
    assert "4 still behind (the longest first seen behind 21.0 days before this run)." in " ".join(text["ttc"].split())
    assert " ".join(text["policy"].split()) == (
        "Policy: baseline latest · as of 2026-12-01 (not recorded: the day of the run) · grace 14 days"
        " · months tolerated not recorded · hotpatch not recorded · ESU not recorded"
    )
    # Host-supplied text is escaped: the evil host name and reason are text, never markup.
    assert "<script" not in html and "script" not in parser.tags and "b" in parser.tags
    assert "evil&lt;b&gt;&#34;&amp;&#39;host" in html
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; more" in html
    assert EVIL_REASON in text["unreachable"]
    # Self-contained: no URL, no external reference, no script, and a policy forbidding loads.
    assert not re.search(r"https?://|//[a-z]", html, re.I)
    assert not [v for k, v in parser.attrs if k in ("src", "href", "action", "srcset")]
    assert "default-src 'none'" in html


def test_fresh_catalog_has_no_warning(tmp_path: Path) -> None:
    path = write_sample_history(tmp_path / "h.sqlite", stale_last=False)
    write_report(path, tmp_path, formats=["html"])
    html = (tmp_path / "report.html").read_text()
    assert 'id="stale-catalog"' not in html and "Stale catalog" not in html


def test_older_run_and_trend_window(sample: Path, tmp_path: Path) -> None:
    result = write_report(sample, tmp_path, formats=["json"], run_id=2, trend_runs=1)
    model = json.loads((tmp_path / "report.json").read_text())
    assert (result["run_id"], result["compliant"]) == (2, 4)
    assert [t["run_id"] for t in model["trend"]] == [2]
    assert model["catalog"]["stale"] is False


def test_check_mode_writes_nothing(sample: Path, tmp_path: Path) -> None:
    result = write_report(sample, tmp_path / "out", check_mode=True)
    assert result["changed"] is True
    assert not (tmp_path / "out").exists()


def test_errors(tmp_path: Path, sample: Path) -> None:
    with pytest.raises(ReportError, match=r"formats must be a non-empty list of html, csv, json, got \['pdf'\]"):
        write_report(sample, tmp_path, formats=["pdf"])
    with pytest.raises(ReportError, match=r"the history has no run 9$"):
        write_report(sample, tmp_path, run_id=9)
    with pytest.raises(HistoryError, match=r"missing\.sqlite: the file does not exist"):
        write_report(tmp_path / "missing.sqlite", tmp_path)
    open_history(tmp_path / "empty.sqlite").close()
    with pytest.raises(ReportError, match=r"empty\.sqlite: the history holds no run yet$"):
        write_report(tmp_path / "empty.sqlite", tmp_path)


def _judged(registry: dict, **extra: object) -> dict:
    """A host's values as the compliance core judges them (the real assess(), the bundled catalog)."""
    result = assess(registry, as_of=STALE_AS_OF)
    return {**{f"winpatch_{k}": v for k, v in result.items()}, **extra}


# A day the bundled catalog is stale for (its data ends 2026-09-08), so every reason carries the stale clause.
STALE_AS_OF = "2026-12-01"
W11_ENT = {"CurrentBuild": "26100", "UBR": 7171, "EditionID": "Enterprise", "InstallationType": "Client"}


def test_stale_catalog_is_said_once_and_rows_keep_their_own_reason(tmp_path: Path) -> None:
    hosts = {f"ws-{i:02d}": _judged(W11_ENT, winpatch_site="hq") for i in range(3)}
    hosts["down-01"] = {"winpatch_state": "unreachable", "winpatch_reason": "connection refused"}
    assert all(v["winpatch_catalog_stale"] for k, v in hosts.items() if k != "down-01")
    with open_history(tmp_path / "h.sqlite") as history:
        history.append(
            [make_assessment(h, v) for h, v in hosts.items()],
            started_at="2026-12-01T08:00:00Z",
            policy={
                "baseline": "latest",
                "as_of": STALE_AS_OF,
                "grace_days": 14,
                "months_tolerated": 0,
                "hotpatch": "accept",
                "esu": False,
            },
            catalog_stale=True,
        )
    write_report(tmp_path / "h.sqlite", tmp_path)
    html = (tmp_path / "report.html").read_text()
    parser = _Text()
    parser.feed(html)
    full = hosts["ws-00"]["winpatch_reason"]
    clause = full[full.index("the catalog is stale") :]
    missing = hosts["ws-00"]["winpatch_missing_months"]
    assert missing and clause.startswith("the catalog is stale (data up to ")

    # Once, in the banner (with the months the catalog lacks), never in a row.
    assert missing == ["2026-09", "2026-10", "2026-11"]
    assert html.count("the catalog is stale (data up to 2026") == 0
    banner = " ".join(parser.by_id["stale-catalog"].split())
    # 2026-10 and 2026-11 come after the catalog's date; 2026-09 is missing for Windows 11 24H2 only.
    assert (
        "older than the last Patch Tuesday: it lacks 2026-10 and 2026-11 for every release (3 hosts)."
        " It also lacks 2026-09 for Windows 11 24H2 (3 hosts)."
    ) in banner
    assert "report.csv and report.json keep them whole" in banner
    laggards = _table(html, "laggards-table")
    assert [r[0] for r in laggards] == ["ws-00", "ws-01", "ws-02"]
    assert {r[8] for r in laggards} == {full[: full.index("; the catalog is stale")] + "."}
    # The CSV and JSON keep the whole reason.
    rows = {r["host"]: r for r in csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text()))}
    assert rows["ws-00"]["reason"] == full
    assert json.loads((tmp_path / "report.json").read_text())["laggards"][0]["reason"] == full

    # Why the expected build is empty: the baseline month is not in the stale catalog.
    baseline = hosts["ws-00"]["winpatch_baseline_month"]
    assert hosts["ws-00"]["winpatch_expected_build"] is None
    assert {r[5] for r in laggards} == {f"unknown ({baseline} is not in the catalog)"}
    assert _table(html, "builds-table") == [
        ["Windows 11 24H2", "10.0.26100.7171", "3", f"unknown ({baseline} is not in the catalog)"]
    ]
    # The unreachable host is not a release called "(none)".
    assert [r[0] for r in _table(html, "release-table")] == ["Windows 11 24H2", "unknown (not reached)"]
    # The policy of the run, in the header.
    assert " ".join(parser.by_id["policy"].split()) == (
        f"Policy: baseline latest (hosts judged against {baseline}) · as of {STALE_AS_OF} · grace 14 days"
        " · months tolerated 0 · hotpatch accept · ESU no"
    )


def test_one_run_does_not_claim_an_age_for_open_episodes(tmp_path: Path) -> None:
    with open_history(tmp_path / "h.sqlite") as history:
        history.append([make_assessment("ws-01", {"state": "behind", "months_behind": 2})])
    write_report(tmp_path / "h.sqlite", tmp_path, formats=["html"])
    parser = _Text()
    parser.feed((tmp_path / "report.html").read_text())
    ttc = " ".join(parser.by_id["ttc"].split())
    assert "1 still behind (first seen behind in this run: the history holds no earlier run to measure from)." in ttc
    assert "days)" not in ttc
    assert ttc.startswith("Time to compliance over the only run: no host has caught up yet;")


# The last Patch Tuesday before this day is 2026-09-08, the bundled catalog's data date: the catalog is current as a
# whole, but it lacks 2026-09 for Windows 11 24H2 and 25H2 (per-release staleness), and only for them.
CURRENT_AS_OF = "2026-09-20"
W11_25H2_ENT = {"CurrentBuild": "26200", "UBR": 6584, "EditionID": "Enterprise", "InstallationType": "Client"}
W2022 = {"CurrentBuild": "20348", "UBR": 4171, "EditionID": "ServerStandard", "InstallationType": "Server"}


def _mixed_history(path: Path, as_of: str, counts: dict[str, int]) -> dict[str, dict]:
    """One run of hosts judged by the real assess() on ``as_of``: ``counts`` per kind, plus one unreachable host."""
    kinds = {"w24": {**W11_ENT, "UBR": 6584}, "w25": W11_25H2_ENT, "srv": W2022}
    hosts = {
        f"{kind}-{i:02d}": {
            **{f"winpatch_{k}": v for k, v in assess(kinds[kind], as_of=as_of).items()},
            "winpatch_site": "hq",
        }
        for kind, n in counts.items()
        for i in range(n)
    }
    hosts["down-01"] = {"winpatch_state": "unreachable", "winpatch_reason": "connection refused"}
    with open_history(path) as history:
        history.append(
            [make_assessment(h, v) for h, v in hosts.items()],
            started_at=f"{as_of}T08:00:00Z",
            policy={"baseline": "latest", "as_of": as_of, "grace_days": 14},
        )
    return hosts


def test_stale_banner_names_the_release_gaps_of_the_stale_hosts_only(tmp_path: Path) -> None:
    hosts = _mixed_history(tmp_path / "h.sqlite", CURRENT_AS_OF, {"w24": 6, "w25": 6, "srv": 8})
    # The facts the report starts from: per-release staleness on the 12 client hosts only.
    assert {
        (v["winpatch_catalog_stale"], tuple(v["winpatch_missing_months"])) for k, v in hosts.items() if k[0] == "w"
    } == {(True, ("2026-09",))}
    assert {
        (v["winpatch_catalog_stale"], tuple(v["winpatch_missing_months"])) for k, v in hosts.items() if k[0] == "s"
    } == {(False, ())}
    write_report(tmp_path / "h.sqlite", tmp_path)
    model = json.loads((tmp_path / "report.json").read_text())
    assert model["catalog"] == {
        "date": "2026-09-08",
        "stale": True,
        "dates_seen": ["2026-09-08"],
        "stale_hosts": 12,
        "missing_months": ["2026-09"],
        "after_date": {"months": [], "hosts": 0},
        "release_gaps": [
            {"release": "Windows 11 24H2", "months": ["2026-09"], "hosts": 6},
            {"release": "Windows 11 25H2", "months": ["2026-09"], "hosts": 6},
        ],
    }
    parser = _Text()
    parser.feed((tmp_path / "report.html").read_text())
    banner = " ".join(parser.by_id["stale-catalog"].split())
    assert banner == (
        "Stale catalog. The catalog lacks 2026-09 for Windows 11 24H2 and Windows 11 25H2 (12 hosts)."
        " Hosts judged against a month the catalog lacks have no expected build: refresh the catalog with"
        " hygiene.winpatch.catalog_update and assess again."
    )
    # The rows keep their own "the catalog lacks ..." clause, and the banner claims nothing else.
    laggards = _table((tmp_path / "report.html").read_text(), "laggards-table")
    assert all(
        r[8].endswith("the catalog lacks 2026-09 for " + r[3] + ": " + REFRESH_HINT + ".")
        for r in laggards
        if r[0][0] == "w"
    )
    assert len([r for r in laggards if r[0][0] == "w"]) == 12


def test_stale_banner_says_the_catalog_is_old_and_what_each_release_lacks(tmp_path: Path) -> None:
    # On 2026-12-01 the catalog misses 2026-10 and 2026-11 for every release, and 2026-09 for Windows 11 24H2/25H2.
    _mixed_history(tmp_path / "h.sqlite", STALE_AS_OF, {"w24": 2, "w25": 1, "srv": 3})
    write_report(tmp_path / "h.sqlite", tmp_path)
    catalog = json.loads((tmp_path / "report.json").read_text())["catalog"]
    assert catalog == {
        "date": "2026-09-08",
        "stale": True,
        "dates_seen": ["2026-09-08"],
        "stale_hosts": 6,
        "missing_months": ["2026-09", "2026-10", "2026-11"],
        "after_date": {"months": ["2026-10", "2026-11"], "hosts": 6},
        "release_gaps": [
            {"release": "Windows 11 24H2", "months": ["2026-09"], "hosts": 2},
            {"release": "Windows 11 25H2", "months": ["2026-09"], "hosts": 1},
        ],
    }
    parser = _Text()
    parser.feed((tmp_path / "report.html").read_text())
    banner = " ".join(parser.by_id["stale-catalog"].split())
    assert banner == (
        "Stale catalog. The baseline catalog is dated 2026-09-08, older than the last Patch Tuesday:"
        " it lacks 2026-10 and 2026-11 for every release (6 hosts)."
        " It also lacks 2026-09 for Windows 11 24H2 and Windows 11 25H2 (3 hosts)."
        " Hosts judged against a month the catalog lacks have no expected build: refresh the catalog with"
        " hygiene.winpatch.catalog_update and assess again."
        ' The reasons below leave out the clause "the catalog is stale (data up to …)";'
        " report.csv and report.json keep them whole."
    )
