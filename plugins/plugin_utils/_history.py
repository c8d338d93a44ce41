# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The assessment history: one SQLite file, one row per host per assessment run.

Schema (version 1; the same DDL, with the changes noted in ``docs/history.md``, works on PostgreSQL)::

    winpatch_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)
        -- 'application' = 'hygiene.winpatch history', 'schema_version' = '1'
    runs(run_id INTEGER PRIMARY KEY,       -- grows by one per appended run
         started_at TEXT NOT NULL,         -- ISO 8601 UTC, when the assessment started
         recorded_at TEXT NOT NULL,        -- ISO 8601 UTC, when the run was appended
         label TEXT NOT NULL,              -- free text, e.g. the playbook or AWX job
         catalog_date TEXT,                -- data_date of the baseline catalog used (YYYY-MM-DD)
         catalog_stale INTEGER,            -- 1 when the catalog was older than the policy allows
         policy TEXT NOT NULL,             -- JSON object of the compliance policy used
         host_count INTEGER NOT NULL)
    assessments(run_id INTEGER NOT NULL REFERENCES runs(run_id),
         host TEXT NOT NULL, state TEXT NOT NULL,      -- one of STATES
         release TEXT, release_id TEXT, build TEXT, expected_build TEXT, expected_kb TEXT,
         months_behind INTEGER, reason TEXT, site TEXT, ring TEXT, checked_at TEXT,
         catalog_date TEXT, catalog_stale INTEGER,
         details TEXT NOT NULL,                        -- JSON object of the other winpatch_* values
         PRIMARY KEY (run_id, host))

Guarantees:
- Append-only: rows of ``runs`` and ``assessments`` are never updated or deleted; SQLite triggers
  abort any UPDATE or DELETE on them.
- One transaction per run (``BEGIN IMMEDIATE``): a run is recorded whole or not at all.
- Concurrent runs: WAL journal plus a busy timeout; two writers queue for the write lock.
- A file that is not a hygiene.winpatch history (another SQLite database, or not SQLite at all) is
  refused with :class:`HistoryError` before anything is written to it.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import WinpatchError

SCHEMA_VERSION = 1
APPLICATION = "hygiene.winpatch history"
# SQLite's header field for "which application owns this file" ("WPHY"); the meta table is the portable marker.
APPLICATION_ID = 0x57504859

STATES = ("current", "grace", "behind", "pending_reboot", "unsupported", "unreachable", "error")
# Compliant means "within policy": current, or inside the grace period of the newest baseline.
COMPLIANT_STATES = frozenset({"current", "grace"})

# Text columns of ``assessments`` besides host and state, in table order.
TEXT_FIELDS = ("release", "release_id", "build", "expected_build", "expected_kb")
_TAIL_TEXT_FIELDS = ("reason", "site", "ring", "checked_at", "catalog_date")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_APPEND_ONLY = "hygiene.winpatch history is append-only"

_DDL = (
    "CREATE TABLE winpatch_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        label TEXT NOT NULL,
        catalog_date TEXT,
        catalog_stale INTEGER,
        policy TEXT NOT NULL,
        host_count INTEGER NOT NULL
    )""",
    """CREATE TABLE assessments (
        run_id INTEGER NOT NULL REFERENCES runs (run_id),
        host TEXT NOT NULL,
        state TEXT NOT NULL,
        release TEXT,
        release_id TEXT,
        build TEXT,
        expected_build TEXT,
        expected_kb TEXT,
        months_behind INTEGER,
        reason TEXT,
        site TEXT,
        ring TEXT,
        checked_at TEXT,
        catalog_date TEXT,
        catalog_stale INTEGER,
        details TEXT NOT NULL,
        PRIMARY KEY (run_id, host),
        CHECK (state IN ('current', 'grace', 'behind', 'pending_reboot', 'unsupported', 'unreachable', 'error'))
    )""",
    "CREATE INDEX assessments_host ON assessments (host, run_id)",
    *(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        for table in ("runs", "assessments")
        for verb in ("UPDATE", "DELETE")
    ),
)


class HistoryError(WinpatchError):
    """The history file cannot be used (not ours, corrupt, newer schema) or a record is invalid."""


# What reading a damaged file can raise besides sqlite3.Error: text that is not UTF-8, JSON that does not parse.
_DAMAGE = (sqlite3.Error, UnicodeDecodeError, ValueError)


def _cause(error: BaseException) -> str:
    """The cause of a failed read, in words: damaged content gets named as such, SQLite's message is kept."""
    if isinstance(error, UnicodeDecodeError):
        return f"the file is damaged: it holds text that is not UTF-8 ({error}); restore it from a backup"
    if isinstance(error, ValueError) and not isinstance(error, sqlite3.Error):
        return f"the file is damaged: a stored JSON value does not parse ({error}); restore it from a backup"
    return str(error)


@dataclass(frozen=True)
class Assessment:
    """One host's assessment in one run."""

    host: str
    state: str
    release: str | None = None
    release_id: str | None = None
    build: str | None = None
    expected_build: str | None = None
    expected_kb: str | None = None
    months_behind: int | None = None
    reason: str | None = None
    site: str | None = None
    ring: str | None = None
    checked_at: str | None = None
    catalog_date: str | None = None
    catalog_stale: bool | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def compliant(self) -> bool:
        return self.state in COMPLIANT_STATES

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "details"}
        out["details"] = dict(self.details)
        return out


@dataclass(frozen=True)
class Run:
    """One appended assessment run."""

    run_id: int
    started_at: str
    recorded_at: str
    label: str
    catalog_date: str | None
    catalog_stale: bool | None
    policy: Mapping[str, Any]
    host_count: int

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["policy"] = dict(self.policy)
        return out


def utc_now() -> str:
    """Now, as the ISO 8601 UTC text the history stores (second precision)."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _text(value: Any, host: str, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool | dict | list | tuple | set):
        raise HistoryError(f"Failed to record host {host!r}: {name} must be text, got {type(value).__name__}")
    return str(value)


def _months(value: Any, host: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise HistoryError(f"Failed to record host {host!r}: months_behind must be an integer, got {value!r}")
    try:
        months = int(str(value).strip())
    except ValueError:
        raise HistoryError(f"Failed to record host {host!r}: months_behind must be an integer, got {value!r}") from None
    if months < 0:
        raise HistoryError(f"Failed to record host {host!r}: months_behind must not be negative, got {months}")
    return months


def _flag(value: Any, host: str, name: str) -> bool | None:
    if value is None or value == "":
        return None
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise HistoryError(f"Failed to record host {host!r}: {name} must be a boolean, got {value!r}") from None


def _jsonable(value: Any) -> Any:
    """Plain JSON types from whatever Ansible handed us (tagged strings, tuples, dates)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def make_assessment(host: Any, values: Mapping[str, Any]) -> Assessment:
    """Validate one host's values (keys with or without the ``winpatch_`` prefix) into an :class:`Assessment`.

    Keys that are not columns go to ``details``. Raises :class:`HistoryError` naming the host and value.
    """
    name = str(host) if host is not None else ""
    if not name.strip():
        raise HistoryError("Failed to record an assessment: the host name is empty")
    plain = {(k[len("winpatch_") :] if str(k).startswith("winpatch_") else str(k)): v for k, v in values.items()}
    state = plain.pop("state", None)
    if state not in STATES:
        raise HistoryError(f"Failed to record host {name!r}: state must be one of {', '.join(STATES)}, got {state!r}")
    columns: dict[str, Any] = {}
    for key in (*TEXT_FIELDS, *_TAIL_TEXT_FIELDS):
        columns[key] = _text(plain.pop(key, None), name, key)
    columns["months_behind"] = _months(plain.pop("months_behind", None), name)
    columns["catalog_stale"] = _flag(plain.pop("catalog_stale", None), name, "catalog_stale")
    plain.pop("host", None)
    return Assessment(host=name, state=str(state), details=_jsonable(plain), **columns)


# Host variables read for each host, besides ``winpatch_<column>``: grouping and the extra result keys kept in details.
DETAIL_VARS = ("winpatch_missing_months", "winpatch_baseline_month", "winpatch_end_of_support", "winpatch_as_of")
_HOST_VARS = tuple(f"winpatch_{name}" for name in ("state", *TEXT_FIELDS, "months_behind", *_TAIL_TEXT_FIELDS))
NOT_ASSESSED = (
    "not assessed: winpatch_state is not set for this host (it failed or was unreachable before its assessment "
    "was recorded)"
)
# The same when the host's registered build_facts result shows the task was skipped (assess.yml with
# source=inventory): the host was deliberately not contacted, so nothing failed.
NOT_READ = (
    "not assessed: the host was not read (its build_facts task was skipped) and the inventory gives no "
    "winpatch_state for it"
)


def _result_values(result: Mapping[str, Any], hv: Mapping[str, Any]) -> dict[str, Any] | None:
    """This run's values for a host from its registered build_facts result; None when the task did not run."""
    if result.get("skipped"):
        return None
    grouping = {key: hv.get(key) for key in ("winpatch_site", "winpatch_ring") if hv.get(key) is not None}
    message = str(result.get("msg") or "").strip()
    if result.get("unreachable"):
        return {**grouping, "winpatch_state": "unreachable", "winpatch_reason": message or "unreachable"}
    if result.get("failed"):
        return {**grouping, "winpatch_state": "error", "winpatch_reason": message or "build_facts failed"}
    facts = result.get("ansible_facts")
    if not isinstance(facts, Mapping) or "winpatch_state" not in facts:
        return {
            **grouping,
            "winpatch_state": "error",
            "winpatch_reason": f"build_facts returned no winpatch_state: {message}",
        }
    return {**grouping, **facts}


def assessments_from_hostvars(
    hosts: Iterable[Any],
    hostvars: Mapping[str, Any],
    *,
    extra_vars: Iterable[str] = (),
    results_var: str | None = None,
) -> list[Assessment]:
    """One :class:`Assessment` per host from its ``winpatch_*`` variables.

    With ``results_var``, a host whose registered ``build_facts`` result under that name shows the task ran
    is taken from that result: its facts, or ``unreachable`` / ``error`` with the task's message (stale
    variables of an earlier sweep are then ignored). Otherwise a variable is taken from the host's variables
    first (facts are injected there by default, and ``set_fact`` wins over facts), then from
    ``ansible_facts``. A host without ``winpatch_state`` is recorded as ``error`` with :data:`NOT_ASSESSED`
    as its reason (:data:`NOT_READ` when its registered result shows the read was skipped), so that no host
    of the play vanishes from the history.
    """
    wanted = (*_HOST_VARS, "winpatch_catalog_stale", *DETAIL_VARS, *extra_vars)
    out = []
    for host in dict.fromkeys(str(h) for h in hosts):
        hv = hostvars.get(host)
        if hv is None:
            raise HistoryError(f"Failed to record host {host!r}: it is not in the inventory")
        result = hv.get(results_var) if results_var else None
        fresh = _result_values(result, hv) if isinstance(result, Mapping) else None
        values: dict[str, Any] = {}
        if fresh is not None:
            values = {key: fresh[key] for key in wanted if fresh.get(key) is not None}
        else:
            facts = hv.get("ansible_facts") or {}
            for key in wanted:
                value = hv.get(key)
                if value is None and isinstance(facts, Mapping):
                    value = facts.get(key)
                if value is not None:
                    values[key] = value
        if "winpatch_state" not in values:
            values["winpatch_state"] = "error"
            skipped = isinstance(result, Mapping) and bool(result.get("skipped"))
            values.setdefault("winpatch_reason", NOT_READ if skipped else NOT_ASSESSED)
        out.append(make_assessment(host, values))
    return out


def assessed_policies(
    hosts: Iterable[Any], hostvars: Mapping[str, Any], *, results_var: str | None = None
) -> dict[str, dict[str, Any]]:
    """The policy each host was judged with (its ``winpatch_assessed_policy``), for the hosts that carry one.

    The value is looked up as :func:`assessments_from_hostvars` looks up the others: from the registered
    ``build_facts`` result under ``results_var`` when that task ran for the host (an unreachable or failed read
    carries none), else from the host's variables, then its ``ansible_facts``. ``None`` values
    (``catalog_path`` unset) are dropped.
    """
    out: dict[str, dict[str, Any]] = {}
    for host in dict.fromkeys(str(h) for h in hosts):
        hv = hostvars.get(host)
        if hv is None:
            continue
        result = hv.get(results_var) if results_var else None
        if isinstance(result, Mapping) and not result.get("skipped"):
            facts = result.get("ansible_facts")
            value = facts.get("winpatch_assessed_policy") if isinstance(facts, Mapping) else None
        else:
            value = hv.get("winpatch_assessed_policy")
            facts = hv.get("ansible_facts")
            if value is None and isinstance(facts, Mapping):
                value = facts.get("winpatch_assessed_policy")
        if isinstance(value, Mapping):
            out[host] = {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    return out


def run_summary(assessments: Iterable[Assessment]) -> dict[str, Any]:
    """Headline numbers of a set of assessments: hosts, compliant, compliance_rate (percent), counts per state."""
    rows = list(assessments)
    counts = {state: 0 for state in STATES}
    for a in rows:
        counts[a.state] += 1
    compliant = sum(counts[s] for s in COMPLIANT_STATES)
    return {
        "hosts": len(rows),
        "compliant": compliant,
        "compliance_rate": round(100.0 * compliant / len(rows), 1) if rows else None,
        "counts": counts,
    }


def _bool_or_none(value: Any) -> bool | None:
    return None if value is None else bool(value)


class History:
    """An open history database. Use :func:`open_history`, preferably as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self._timeout = timeout
        self._db = self._connect(create)

    # -- opening -----------------------------------------------------------------------------------------------

    def _connect(self, create: bool) -> sqlite3.Connection:
        # Refuse a file that is not SQLite at all before SQLite gets a chance to touch it.
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            if not create:
                raise HistoryError(f"Failed to open the history {self.path}: the file does not exist") from None
            header = b""
            parent = os.path.dirname(os.path.abspath(self.path))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as e:
                raise HistoryError(f"Failed to create the directory of the history {self.path}: {e}") from e
        except OSError as e:
            raise HistoryError(f"Failed to open the history {self.path}: {e}") from e
        if header and header != _SQLITE_MAGIC:
            raise HistoryError(
                f"Failed to open the history {self.path}: the file is not a SQLite database "
                "(refusing to touch it; move it away or choose another path)"
            )

        # Autocommit mode: every write below opens its own explicit transaction.
        try:
            db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise HistoryError(f"Failed to open the history {self.path}: {e}") from e
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            self._check_or_create(db, create)
            self._enable_wal(db)
        except _DAMAGE as e:
            db.close()
            raise HistoryError(f"Failed to open the history {self.path}: {_cause(e)}") from e
        except HistoryError:
            db.close()
            raise
        return db

    def _check_or_create(self, db: sqlite3.Connection, create: bool) -> None:
        # Inspect (and, for an empty database, create) under the write lock, so two first runs don't race.
        db.execute("BEGIN IMMEDIATE" if create else "BEGIN")
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                if not create:
                    raise HistoryError(f"Failed to open the history {self.path}: the database is empty")
                for statement in _DDL:
                    db.execute(statement)
                db.executemany(
                    "INSERT INTO winpatch_meta (name, value) VALUES (?, ?)",
                    [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))],
                )
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            else:
                self._check_ours(db, tables, create)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _check_ours(self, db: sqlite3.Connection, tables: set[str], create: bool) -> None:
        if "winpatch_meta" not in tables:
            listed = ", ".join(sorted(tables)[:5])
            # Opened for writing (history) or for reading only (report): say which one is refused.
            refusal = "refusing to write to it" if create else "refusing to read it as a hygiene.winpatch history"
            raise HistoryError(
                f"Failed to open the history {self.path}: it is a SQLite database of another application "
                f"(tables: {listed}); {refusal}"
            )
        meta = dict(db.execute("SELECT name, value FROM winpatch_meta").fetchall())
        if meta.get("application") != APPLICATION:
            raise HistoryError(
                f"Failed to open the history {self.path}: winpatch_meta names application "
                f"{meta.get('application')!r}, not {APPLICATION!r}"
            )
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise HistoryError(
                f"Failed to open the history {self.path}: invalid schema_version {meta.get('schema_version')!r}"
            ) from None
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"Failed to open the history {self.path}: schema version {version} was written by a newer "
                f"hygiene.winpatch (this one knows up to {SCHEMA_VERSION}); upgrade the collection"
            )
        # Version 1 is the only one so far; migrations from older versions go here, inside this transaction.

    def _enable_wal(self, db: sqlite3.Connection) -> None:
        # Switching to WAL needs a moment with no other writer; a concurrent first run may hold the lock.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            if str(mode).lower() != "wal":
                raise HistoryError(f"Failed to open the history {self.path}: cannot use WAL journal (got {mode!r})")
            return

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------------------------

    def append(
        self,
        assessments: Iterable[Assessment],
        *,
        started_at: str | None = None,
        label: str = "",
        policy: Mapping[str, Any] | None = None,
        catalog_date: str | None = None,
        catalog_stale: bool | None = None,
    ) -> Run:
        """Append one run with its assessments in one transaction; returns the new :class:`Run`."""
        rows = list(assessments)
        hosts = [a.host for a in rows]
        if len(set(hosts)) != len(hosts):
            duplicates = sorted({h for h in hosts if hosts.count(h) > 1})
            raise HistoryError(f"Failed to append the run to {self.path}: hosts listed twice: {', '.join(duplicates)}")
        recorded_at = utc_now()
        started = started_at or recorded_at
        policy_json = json.dumps(_jsonable(dict(policy or {})), sort_keys=True)
        stale = None if catalog_stale is None else int(bool(catalog_stale))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO runs (started_at, recorded_at, label, catalog_date, catalog_stale, policy, host_count)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (started, recorded_at, str(label), catalog_date, stale, policy_json, len(rows)),
                )
                run_id = int(cursor.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO assessments (run_id, host, state, release, release_id, build, expected_build,"
                    " expected_kb, months_behind, reason, site, ring, checked_at, catalog_date, catalog_stale, details)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            a.host,
                            a.state,
                            a.release,
                            a.release_id,
                            a.build,
                            a.expected_build,
                            a.expected_kb,
                            a.months_behind,
                            a.reason,
                            a.site,
                            a.ring,
                            a.checked_at,
                            a.catalog_date,
                            None if a.catalog_stale is None else int(a.catalog_stale),
                            json.dumps(_jsonable(dict(a.details)), sort_keys=True),
                        )
                        for a in rows
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except _DAMAGE as e:
            raise HistoryError(f"Failed to append the run to the history {self.path}: {_cause(e)}") from e
        return Run(
            run_id=run_id,
            started_at=started,
            recorded_at=recorded_at,
            label=str(label),
            catalog_date=catalog_date,
            catalog_stale=_bool_or_none(stale),
            policy=dict(policy or {}),
            host_count=len(rows),
        )

    # -- reading -----------------------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()
        except _DAMAGE as e:
            raise HistoryError(f"Failed to read the history {self.path}: {_cause(e)}") from e

    def _decode(self, text: str) -> Any:
        """A stored JSON column; a value that does not parse is damage, reported with the file name."""
        try:
            return json.loads(text)
        except ValueError as e:
            raise HistoryError(f"Failed to read the history {self.path}: {_cause(e)}") from e

    def _run(self, row: sqlite3.Row) -> Run:
        return Run(
            run_id=row["run_id"],
            started_at=row["started_at"],
            recorded_at=row["recorded_at"],
            label=row["label"],
            catalog_date=row["catalog_date"],
            catalog_stale=_bool_or_none(row["catalog_stale"]),
            policy=self._decode(row["policy"]),
            host_count=row["host_count"],
        )

    def runs(self, limit: int | None = None) -> list[Run]:
        """Runs, oldest first; with ``limit``, only the newest ``limit`` runs."""
        sql = "SELECT * FROM runs ORDER BY run_id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (int(limit),)
        return [self._run(row) for row in reversed(self._query(sql, params))]

    def run(self, run_id: int | None = None) -> Run | None:
        """One run by id, or the newest run when ``run_id`` is None; None when there is no such run."""
        if run_id is None:
            rows = self._query("SELECT * FROM runs ORDER BY run_id DESC LIMIT 1")
        else:
            rows = self._query("SELECT * FROM runs WHERE run_id = ?", (int(run_id),))
        return self._run(rows[0]) if rows else None

    def assessments(self, run_id: int) -> list[Assessment]:
        """The assessments of one run, sorted by host."""
        rows = self._query("SELECT * FROM assessments WHERE run_id = ? ORDER BY host", (int(run_id),))
        return [
            Assessment(
                host=row["host"],
                state=row["state"],
                months_behind=row["months_behind"],
                catalog_stale=_bool_or_none(row["catalog_stale"]),
                details=self._decode(row["details"]),
                **{key: row[key] for key in (*TEXT_FIELDS, *_TAIL_TEXT_FIELDS)},
            )
            for row in rows
        ]

    def state_counts(self, run_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """``{run_id: {state: count}}`` for the given runs (all runs when None)."""
        counts: dict[int, dict[str, int]] = {}
        wanted = None if run_ids is None else {int(r) for r in run_ids}
        for row in self._query("SELECT run_id, state, COUNT(*) AS n FROM assessments GROUP BY run_id, state"):
            if wanted is None or row["run_id"] in wanted:
                counts.setdefault(row["run_id"], {})[row["state"]] = row["n"]
        return counts

    def host_timelines(self, first_run_id: int = 0) -> Iterator[tuple[str, int, str, str]]:
        """``(host, run_id, started_at, state)`` from ``first_run_id`` on, ordered by host then run."""
        try:
            cursor = self._db.execute(
                "SELECT a.host, a.run_id, r.started_at, a.state FROM assessments a"
                " JOIN runs r ON r.run_id = a.run_id WHERE a.run_id >= ? ORDER BY a.host, a.run_id",
                (int(first_run_id),),
            )
            yield from cursor
        except _DAMAGE as e:
            raise HistoryError(f"Failed to read the history {self.path}: {_cause(e)}") from e


def open_history(path: str | os.PathLike[str], *, create: bool = True, timeout: float = 30.0) -> History:
    """Open (and with ``create``, create) the history at ``path``; raises :class:`HistoryError`."""
    return History(path, create=create, timeout=timeout)
