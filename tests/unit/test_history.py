# SPDX-License-Identifier: GPL-3.0-or-later
"""The history store: schema, append-only, concurrent writers, foreign and corrupt files."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _history
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._history import (
    HistoryError,
    make_assessment,
    open_history,
)


def _fleet(n: int, state: str = "current", prefix: str = "WIN") -> list[_history.Assessment]:
    return [
        make_assessment(
            f"{prefix}-{i:04d}",
            {
                "winpatch_state": state,
                "winpatch_release": "Windows 11 24H2",
                "winpatch_release_id": "windows_11_24h2",
                "winpatch_build": "10.0.26100.6899",
                "winpatch_months_behind": 0,
                "winpatch_site": "paris",
                "winpatch_ring": "broad",
                "winpatch_missing_months": [],
            },
        )
        for i in range(n)
    ]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_append_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "history.sqlite"
    with open_history(path) as history:
        run = history.append(
            [
                make_assessment(
                    "web-01",
                    {
                        "winpatch_state": "behind",
                        "winpatch_release": "Windows Server 2022",
                        "winpatch_build": "10.0.20348.3000",
                        "winpatch_expected_build": "10.0.20348.4171",
                        "winpatch_expected_kb": "KB5065432",
                        "winpatch_months_behind": "3",
                        "winpatch_reason": "3 months behind",
                        "winpatch_catalog_stale": "false",
                        "winpatch_missing_months": ["2026-07", "2026-08", "2026-09"],
                    },
                ),
                make_assessment("db-01", {"state": "unreachable", "reason": "connection refused"}),
            ],
            started_at="2026-12-01T10:00:00Z",
            label="assess",
            policy={"baseline": "latest", "grace_days": 14},
            catalog_date="2026-09-08",
            catalog_stale=False,
        )
    assert run.run_id == 1 and run.host_count == 2

    with open_history(path, create=False) as history:
        assert [r.as_dict() for r in history.runs()] == [run.as_dict()]
        rows = history.assessments(1)
    assert [a.host for a in rows] == ["db-01", "web-01"]
    web = rows[1]
    assert (web.state, web.months_behind, web.expected_kb, web.catalog_stale) == ("behind", 3, "KB5065432", False)
    assert web.details == {"missing_months": ["2026-07", "2026-08", "2026-09"]}
    assert rows[0].reason == "connection refused" and rows[0].build is None


def test_schema_is_versioned_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    open_history(path).close()
    db = sqlite3.connect(path)
    assert dict(db.execute("SELECT name, value FROM winpatch_meta")) == {
        "application": "hygiene.winpatch history",
        "schema_version": "1",
    }
    assert db.execute("PRAGMA application_id").fetchone()[0] == _history.APPLICATION_ID
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_rows_are_append_only(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with open_history(path) as history:
        history.append(_fleet(3, "behind"))
    db = sqlite3.connect(path)
    for sql in (
        "UPDATE assessments SET state = 'current'",
        "DELETE FROM assessments",
        "UPDATE runs SET label = 'forged'",
        "DELETE FROM runs",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.rollback()
    assert db.execute("SELECT DISTINCT state FROM assessments").fetchall() == [("behind",)]
    db.close()


def test_invalid_record_names_host_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with open_history(path) as history:
        history.append(_fleet(2))
    with pytest.raises(
        HistoryError, match=r"^Failed to record host 'WIN-9': state must be one of current, .*'sleeping'"
    ):
        make_assessment("WIN-9", {"winpatch_state": "sleeping"})
    with pytest.raises(HistoryError, match=r"host 'WIN-9': months_behind must be an integer, got 'many'"):
        make_assessment("WIN-9", {"winpatch_state": "behind", "winpatch_months_behind": "many"})
    with open_history(path) as history, pytest.raises(HistoryError, match="hosts listed twice: WIN-0000"):
        history.append(_fleet(2) + _fleet(1))
    with open_history(path) as history:
        assert len(history.runs()) == 1
        assert len(history.assessments(1)) == 2


def test_not_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_text("host,state\nWIN-1,current\n")
    before = _digest(path)
    with pytest.raises(HistoryError, match=r"^Failed to open the history .*history\.sqlite: the file is not a SQLite"):
        open_history(path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    db.commit()
    db.close()
    before = _digest(path)
    with pytest.raises(HistoryError, match=r"another application \(tables: invoices\); refusing to write"):
        open_history(path)
    assert _digest(path) == before
    db = sqlite3.connect(path)
    assert db.execute("SELECT amount FROM invoices").fetchall() == [(12.5,)]
    db.close()


def test_corrupt_database_gives_clear_error_and_keeps_bytes(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with open_history(path) as history:
        history.append(_fleet(50))
    # Fold the WAL into the main file, then damage the pages after the header.
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(HistoryError, match=r"^Failed to open the history .*h\.sqlite: .*malformed"):
        open_history(path)
    assert _digest(path) == before


def _damage_at(path: Path, offset: int, length: int = 200) -> None:
    """Fold the WAL into the main file, then overwrite ``length`` bytes at ``offset`` with 0xff."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    data[offset : offset + length] = b"\xff" * length
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("create", [True, False])
def test_damaged_text_names_the_file_and_the_cause(tmp_path: Path, create: bool) -> None:
    # The user's report: 200 bytes at offset 3000 (the schema page) overwritten with 0xff gave a bare
    # "'utf-8' codec can't decode byte 0xff" with no file name.
    path = tmp_path / "h.sqlite"
    with open_history(path) as history:
        history.append(_fleet(100))
    _damage_at(path, 3000)
    before = _digest(path)
    with pytest.raises(HistoryError) as caught:
        open_history(path, create=create)
    assert str(caught.value) == (
        f"Failed to open the history {path}: the file is damaged: it holds text that is not UTF-8 ('utf-8' codec "
        "can't decode byte 0xff in position 56: invalid start byte); restore it from a backup"
    )
    assert _digest(path) == before


def test_damaged_json_column_names_the_file_and_the_cause(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with open_history(path) as history:
        run = history.append(_fleet(2))
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO assessments (run_id, host, state, details) VALUES (?, 'WIN-9999', 'current', '{not json')",
        (run.run_id,),
    )
    db.commit()
    db.close()
    with open_history(path, create=False) as history, pytest.raises(HistoryError) as caught:
        history.assessments(run.run_id)
    assert str(caught.value).startswith(
        f"Failed to read the history {path}: the file is damaged: a stored JSON value does not parse (Expecting "
    )
    assert str(caught.value).endswith("); restore it from a backup")


def test_foreign_sqlite_database_opened_for_reading_says_so(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.commit()
    db.close()
    before = _digest(path)
    with pytest.raises(HistoryError) as caught:
        open_history(path, create=False)
    assert str(caught.value) == (
        f"Failed to open the history {path}: it is a SQLite database of another application (tables: invoices); "
        "refusing to read it as a hygiene.winpatch history"
    )
    assert _digest(path) == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    open_history(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE winpatch_meta SET value = '99' WHERE name = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match=r"schema version 99 was written by a newer hygiene\.winpatch"):
        open_history(path)


def test_missing_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"nope\.sqlite: the file does not exist"):
        open_history(tmp_path / "nope.sqlite", create=False)
    assert not (tmp_path / "nope.sqlite").exists()


def _writer(path: str, prefix: str, runs: int, hosts: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait(30)
    for n in range(runs):
        with open_history(path, timeout=60) as history:
            history.append(_fleet(hosts, prefix=prefix), label=f"{prefix}-{n}")


def test_two_processes_append_at_the_same_time(tmp_path: Path) -> None:
    # Both writers start on a file that does not exist yet, so creation races too.
    path = str(tmp_path / "h.sqlite")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    runs, hosts = 15, 200
    procs = [ctx.Process(target=_writer, args=(path, prefix, runs, hosts, start)) for prefix in ("A", "B")]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0]

    with open_history(path, create=False) as history:
        all_runs = history.runs()
        assert len(all_runs) == 2 * runs
        assert [r.run_id for r in all_runs] == list(range(1, 2 * runs + 1))
        labels = {r.label for r in all_runs}
        assert labels == {f"{p}-{n}" for p in "AB" for n in range(runs)}
        # Every run is whole: exactly its own writer's hosts.
        for run in all_runs:
            got = history.assessments(run.run_id)
            assert len(got) == hosts == run.host_count
            assert {a.host[0] for a in got} == {run.label[0]}


def test_assessments_from_hostvars_precedence_and_missing_hosts() -> None:
    hostvars = {
        # set_fact (a host variable) wins over a stale fact of the same name
        "a": {
            "winpatch_state": "unreachable",
            "winpatch_reason": "timed out",
            "ansible_facts": {"winpatch_state": "current"},
        },
        # facts only (INJECT_FACTS_AS_VARS off)
        "b": {"ansible_facts": {"winpatch_state": "behind", "winpatch_months_behind": 2}, "winpatch_ring": "broad"},
        # never assessed
        "c": {"winpatch_site": "oslo"},
    }
    rows = _history.assessments_from_hostvars(["a", "b", "c", "a"], hostvars)
    assert [(r.host, r.state, r.reason, r.months_behind, r.ring, r.site) for r in rows] == [
        ("a", "unreachable", "timed out", None, None, None),
        ("b", "behind", None, 2, "broad", None),
        ("c", "error", _history.NOT_ASSESSED, None, None, "oslo"),
    ]
    assert _history.run_summary(rows) == {
        "hosts": 3,
        "compliant": 0,
        "compliance_rate": 0.0,
        "counts": {s: (1 if s in ("unreachable", "behind", "error") else 0) for s in _history.STATES},
    }
    with pytest.raises(HistoryError, match=r"^Failed to record host 'zz': it is not in the inventory$"):
        _history.assessments_from_hostvars(["zz"], hostvars)


def test_assessments_from_a_registered_build_facts_result() -> None:
    stale = {"winpatch_state": "current", "winpatch_build": "10.0.26100.1", "winpatch_site": "paris"}
    hostvars = {
        "down": {**stale, "read": {"unreachable": True, "msg": "Failed to connect to down: refused", "changed": False}},
        "bad": {**stale, "read": {"failed": True, "msg": "Failed to read the build facts: garbage"}},
        "ok": {**stale, "read": {"ansible_facts": {"winpatch_state": "behind", "winpatch_build": "10.0.26100.2"}}},
        "plugin": {**stale, "read": {"skipped": True, "skip_reason": "Conditional result was False"}},
        "empty": {**stale, "read": {"changed": False, "msg": "odd"}},
    }
    rows = _history.assessments_from_hostvars(list(hostvars), hostvars, results_var="read")
    assert [(r.host, r.state, r.build, r.reason, r.site) for r in rows] == [
        ("down", "unreachable", None, "Failed to connect to down: refused", "paris"),
        ("bad", "error", None, "Failed to read the build facts: garbage", "paris"),
        ("ok", "behind", "10.0.26100.2", None, "paris"),
        ("plugin", "current", "10.0.26100.1", None, "paris"),
        ("empty", "error", None, "build_facts returned no winpatch_state: odd", "paris"),
    ]


def test_a_host_skipped_by_the_read_and_without_inventory_state_is_not_assessed() -> None:
    # source=inventory: build_facts is skipped for every host; one without winpatch_state was never read at all,
    # so "it failed or was unreachable" would be wrong.
    hostvars = {
        "seen": {"winpatch_state": "current", "read": {"skipped": True}},
        "unseen": {"winpatch_site": "lyon", "read": {"skipped": True, "skip_reason": "Conditional result was False"}},
    }
    rows = _history.assessments_from_hostvars(list(hostvars), hostvars, results_var="read")
    assert [(r.host, r.state, r.reason, r.site) for r in rows] == [
        ("seen", "current", None, None),
        ("unseen", "error", _history.NOT_READ, "lyon"),
    ]
    assert _history.NOT_READ == (
        "not assessed: the host was not read (its build_facts task was skipped) and the inventory gives no "
        "winpatch_state for it"
    )
