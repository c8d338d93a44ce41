# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The compliance report: one model built from the history, rendered as HTML, CSV and JSON.

The HTML dashboard is self-contained: inline CSS, inline SVG charts, no script, no external asset,
and a Content-Security-Policy that forbids loading anything. It is rendered by Jinja2 with
autoescaping, so every value that came from a host (names, reasons, builds) is escaped.

Definitions used throughout:
- compliant: state ``current`` or ``grace``; the compliance rate is compliant hosts over all hosts of
  the run, so unreachable and error hosts count as not (verified) compliant;
- laggards: hosts in state ``behind`` or ``pending_reboot``, most months behind first;
- time to compliance: see :func:`time_to_compliance`.

The output depends only on the history (no "generated now" stamp), so rendering twice gives the
same files and the report action can say whether anything changed.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import os
import re
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jinja2

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._compliance import REFRESH_HINT
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._history import (
    COMPLIANT_STATES,
    STATES,
    Assessment,
    History,
    HistoryError,
    open_history,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import patch_tuesday

REPORT_SCHEMA = 1
FORMATS = ("html", "csv", "json")
FILE_NAMES = {"html": "report.html", "csv": "report.csv", "json": "report.json"}
LAGGARD_STATES = ("behind", "pending_reboot")
# Episodes of non-compliance open on these states and close on a compliant state; the rest are no signal.
_OPEN_STATES = frozenset(LAGGARD_STATES)
RING_ORDER = ("pilot", "early", "broad")
NONE_LABEL = "(none)"
# A host without a release: it was not reached, or its answer did not identify one. Sorted after the releases.
UNREACHED_LABEL = "unknown (not reached)"
UNIDENTIFIED_LABEL = "unknown (not identified)"
_UNKNOWN_LABELS = (UNREACHED_LABEL, UNIDENTIFIED_LABEL, NONE_LABEL)
# The clause compliance appends to every reason when the catalog is stale (see _compliance._stale_clause). The
# dashboard shows it once, in the banner, and drops it from each row; CSV and JSON keep the reason whole.
_STALE_CLAUSE = re.compile(r"(?:^|;\s*)the catalog is stale \(data up to [^)]*\): " + re.escape(REFRESH_HINT) + r"\.?$")
# The policy options shown in the dashboard header, in this order.
POLICY_KEYS = ("baseline", "as_of", "grace_days", "months_tolerated", "hotpatch", "esu")
STATE_COLORS = {
    "current": "#2e7d32",
    "grace": "#7cb342",
    "behind": "#e65100",
    "pending_reboot": "#f9a825",
    "unsupported": "#6a1b9a",
    "unreachable": "#546e7a",
    "error": "#c62828",
}
CSV_COLUMNS = (
    "host",
    "site",
    "ring",
    "state",
    "compliant",
    "release",
    "release_id",
    "build",
    "expected_build",
    "expected_kb",
    "months_behind",
    "reason",
    "checked_at",
    "catalog_date",
    "run_id",
)


class ReportError(HistoryError):
    """The report cannot be built or written (no history, no run, unwritable directory)."""


# -- the model ---------------------------------------------------------------------------------------------------


def _rate(compliant: int, total: int) -> float | None:
    return round(100.0 * compliant / total, 1) if total else None


def _build_key(build: str | None) -> tuple[int, tuple[int, ...], str]:
    """Sort key for build strings: numeric tuples first, then anything malformed as text."""
    if build:
        try:
            return (0, tuple(int(part) for part in build.split(".")), "")
        except ValueError:
            pass
    return (1, (), build or "")


def _ring_key(name: str) -> tuple[int, str]:
    if name in RING_ORDER:
        return (RING_ORDER.index(name), name)
    return (len(RING_ORDER) + (1 if name == NONE_LABEL else 0), name)


def _release_label(row: Assessment) -> str:
    if row.release:
        return row.release
    return UNREACHED_LABEL if row.state == "unreachable" else UNIDENTIFIED_LABEL


def _group(rows: Sequence[Assessment], attr: str, order: Any = None) -> list[dict[str, Any]]:
    groups: dict[str, list[Assessment]] = {}
    for row in rows:
        name = _release_label(row) if attr == "release" else getattr(row, attr) or NONE_LABEL
        groups.setdefault(name, []).append(row)
    out = []
    for name, members in groups.items():
        counts = Counter(a.state for a in members)
        compliant = sum(counts[s] for s in COMPLIANT_STATES)
        out.append(
            {
                "name": name,
                "hosts": len(members),
                "compliant": compliant,
                "rate": _rate(compliant, len(members)),
                "counts": {s: counts.get(s, 0) for s in STATES},
            }
        )
    out.sort(key=lambda g: order(g["name"]) if order else ((g["name"] in _UNKNOWN_LABELS), g["name"].lower()))
    return out


def _builds(rows: Sequence[Assessment]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Assessment]] = {}
    for row in rows:
        if row.build:
            groups.setdefault((row.release or NONE_LABEL, row.build), []).append(row)
    out = []
    for (release, build), members in groups.items():
        counts = Counter(a.state for a in members)
        expected = Counter(a.expected_build for a in members if a.expected_build).most_common(1)
        out.append(
            {
                "release": release,
                "build": build,
                "hosts": len(members),
                "expected_build": expected[0][0] if expected else None,
                "expected_note": None if expected else _no_expected_build(members),
                "counts": {s: counts.get(s, 0) for s in STATES},
            }
        )
    out.sort(key=lambda b: (b["release"].lower(), tuple(-x for x in _build_key(b["build"])[1]), b["build"]))
    return out


def _no_expected_build(members: Sequence[Assessment]) -> str:
    """Why a build group has no expected build: unsupported release, or the baseline month is not in the catalog."""
    if all(a.state == "unsupported" for a in members):
        return "none (release not supported)"
    months = Counter(str(a.details.get("baseline_month")) for a in members if a.details.get("baseline_month"))
    if months:
        return f"unknown ({months.most_common(1)[0][0]} is not in the catalog)"
    return "unknown"


def _most_common(values: Iterable[Any]) -> Any:
    found = Counter(v for v in values if v not in (None, "", []))
    return found.most_common(1)[0][0] if found else None


def _policy(run_policy: Mapping[str, Any], started_at: str, rows: Sequence[Assessment]) -> dict[str, Any]:
    """The policy of the run as stored, with what the hosts' results say where the stored policy is silent.

    ``baseline_month`` is the month the hosts were judged against (from their results); ``as_of`` falls back to
    the hosts' recorded ``as_of``, then is marked as the run's day (the default of the policy).
    """
    out: dict[str, Any] = {key: run_policy.get(key) for key in POLICY_KEYS}
    out["baseline_month"] = _most_common(a.details.get("baseline_month") for a in rows)
    out["as_of_source"] = "policy"
    if out["as_of"] in (None, ""):
        judged = _most_common(a.details.get("as_of") for a in rows)
        out["as_of"] = judged or (started_at[:10] if started_at else None)
        out["as_of_source"] = "hosts" if judged else "run date"
    return out


def short_reason(reason: str | None) -> str:
    """A reason without the stale-catalog clause (the dashboard shows that once, in its banner)."""
    if not reason:
        return ""
    short, removed = _STALE_CLAUSE.subn("", reason)
    if not removed:
        return reason
    short = short.strip()
    if not short:
        return "see the stale catalog warning above"
    return short if short.endswith(".") else short + "."


def _host_row(a: Assessment) -> dict[str, Any]:
    row = a.as_dict()
    row["compliant"] = a.compliant
    return row


def _parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def time_to_compliance(timelines: Iterable[tuple[str, int, str, str]], as_of: str | None) -> dict[str, Any]:
    """Observed time to compliance, from ``(host, run_id, started_at, state)`` ordered by host then run.

    An episode opens at the first run that sees a host ``behind`` or ``pending_reboot`` and closes at the
    first later run that sees it ``current`` or ``grace``; unreachable, error and unsupported runs neither
    open nor close one. Its length is the time between the two runs' start. The figure is only as fine
    as the interval between runs, and an episode already open in the first run counted is measured from
    that run (the host may have been behind for longer).
    """
    closed: list[float] = []
    open_since: dict[str, datetime.datetime] = {}
    opened: dict[str, datetime.datetime] = {}
    for host, _run_id, started_at, state in timelines:
        when = _parse_time(started_at)
        if when is None:
            continue
        if state in _OPEN_STATES:
            opened.setdefault(host, when)
        elif state in COMPLIANT_STATES and host in opened:
            closed.append((when - opened.pop(host)).total_seconds() / 86400.0)
    open_since.update(opened)
    now = _parse_time(as_of)
    open_ages = [(now - since).total_seconds() / 86400.0 for since in open_since.values()] if now else []
    return {
        "closed": len(closed),
        "median_days": round(statistics.median(closed), 1) if closed else None,
        "p90_days": round(statistics.quantiles(closed, n=10, method="inclusive")[-1], 1) if len(closed) > 1 else None,
        "max_days": round(max(closed), 1) if closed else None,
        "open": len(open_since),
        "oldest_open_days": round(max(open_ages), 1) if open_ages else None,
    }


def _after_date(month: str, catalog_date: str | None) -> bool:
    """Whether ``month``'s Patch Tuesday falls after the catalog's data date (missing for every release)."""
    try:
        return catalog_date is None or patch_tuesday(month) > datetime.date.fromisoformat(catalog_date)
    except ValueError:
        return True


def _catalog(run_catalog_date: str | None, run_stale: bool | None, rows: Sequence[Assessment]) -> dict[str, Any]:
    """The catalog the run was judged with, and what it lacks, from the stale hosts' results only.

    A host's ``missing_months`` hold the months after the catalog's data date (the same for every release) and the
    months the catalog lacks for the host's own release; they are told apart by the date, then the release gaps are
    grouped by release (the union of the months its stale hosts lack, and how many hosts they are).
    """
    dates = Counter(a.catalog_date for a in rows if a.catalog_date)
    date = run_catalog_date or (dates.most_common(1)[0][0] if dates else None)
    stale_rows = [a for a in rows if a.catalog_stale]
    stale = run_stale if run_stale is not None else bool(stale_rows)
    after: set[str] = set()
    after_hosts = 0
    gaps: dict[str, tuple[set[str], list[Assessment]]] = {}
    for a in stale_rows:
        months = [str(m) for m in a.details.get("missing_months") or ()]
        row_date = a.catalog_date or date
        late = {m for m in months if _after_date(m, row_date)}
        after.update(late)
        after_hosts += bool(late)
        own = {m for m in months if not _after_date(m, row_date)}
        if own:
            found, members = gaps.setdefault(_release_label(a), (set(), []))
            found.update(own)
            members.append(a)
    release_gaps = [
        {"release": name, "months": sorted(found), "hosts": len(members)}
        for name, (found, members) in sorted(gaps.items(), key=lambda item: item[0].lower())
    ]
    return {
        "date": date,
        "stale": bool(stale),
        "dates_seen": sorted(dates),
        "stale_hosts": len(stale_rows),
        "missing_months": sorted(after.union(*(months for months, _members in gaps.values()))),
        "after_date": {"months": sorted(after), "hosts": after_hosts},
        "release_gaps": release_gaps,
    }


def build_model(
    history: History, *, run_id: int | None = None, trend_runs: int = 52, title: str = ""
) -> dict[str, Any]:
    """The report model (also the JSON output) for one run of the history (default: the newest)."""
    run = history.run(run_id)
    if run is None:
        what = "holds no run yet" if run_id is None else f"has no run {run_id}"
        raise ReportError(f"Failed to build the report from {history.path}: the history {what}")
    rows = history.assessments(run.run_id)
    counts = Counter(a.state for a in rows)
    compliant = sum(counts[s] for s in COMPLIANT_STATES)

    # Trend: the newest ``trend_runs`` runs up to the reported one.
    window = [r for r in history.runs() if r.run_id <= run.run_id][-max(1, int(trend_runs)) :]
    per_run = history.state_counts(r.run_id for r in window)
    trend = []
    for r in window:
        c = per_run.get(r.run_id, {})
        total = sum(c.values())
        ok = sum(c.get(s, 0) for s in COMPLIANT_STATES)
        trend.append(
            {
                "run_id": r.run_id,
                "started_at": r.started_at,
                "label": r.label,
                "hosts": total,
                "compliant": ok,
                "rate": _rate(ok, total),
                "counts": {s: c.get(s, 0) for s in STATES},
            }
        )
    ttc = time_to_compliance(history.host_timelines(window[0].run_id), run.started_at)
    ttc["runs"] = len(window)

    catalog = _catalog(run.catalog_date, run.catalog_stale, rows)
    laggards = sorted(
        (a for a in rows if a.state in LAGGARD_STATES),
        key=lambda a: (-(a.months_behind if a.months_behind is not None else -1), a.host),
    )
    return {
        "schema": REPORT_SCHEMA,
        "title": title or "Windows patch compliance",
        "history": history.path,
        "run": run.as_dict(),
        "policy": _policy(run.policy, run.started_at, rows),
        "summary": {
            "hosts": len(rows),
            "compliant": compliant,
            "compliance_rate": _rate(compliant, len(rows)),
            "counts": {s: counts.get(s, 0) for s in STATES},
            "catalog_date": catalog["date"],
            "catalog_stale": catalog["stale"],
        },
        "catalog": catalog,
        "by_ring": _group(rows, "ring", _ring_key),
        "by_site": _group(rows, "site"),
        "by_release": _group(rows, "release"),
        "builds": _builds(rows),
        "laggards": [_host_row(a) for a in laggards],
        "unreachable": [_host_row(a) for a in rows if a.state == "unreachable"],
        "attention": [_host_row(a) for a in rows if a.state in ("error", "unsupported")],
        "trend": trend,
        "time_to_compliance": ttc,
        "hosts": [_host_row(a) for a in rows],
    }


# -- charts (geometry only; the template draws and escapes) ---------------------------------------------------


def _stacked_rows(items: Sequence[Mapping[str, Any]], label: Any, width: float = 420.0) -> list[dict[str, Any]]:
    """Horizontal stacked bars, one per item, scaled to the largest total."""
    biggest = max((sum(i["counts"].values()) for i in items), default=0) or 1
    rows = []
    for item in items:
        x = 0.0
        segments = []
        for state in STATES:
            n = item["counts"].get(state, 0)
            if n:
                w = width * n / biggest
                segments.append(
                    {"x": round(x, 2), "w": round(w, 2), "state": state, "n": n, "color": STATE_COLORS[state]}
                )
                x += w
        rows.append({"label": label(item), "segments": segments, "total": sum(item["counts"].values()), "end": x})
    return rows


def _trend_chart(trend: Sequence[Mapping[str, Any]], width: int = 720, height: int = 220) -> dict[str, Any]:
    """A line of the compliance rate per run, x proportional to time (run order when times are missing)."""
    left, right, top, bottom = 48, 16, 12, 36
    inner_w, inner_h = width - left - right, height - top - bottom
    points = [p for p in trend if p["rate"] is not None]
    times = [_parse_time(p["started_at"]) for p in points]
    if points and all(times) and len(set(times)) > 1:
        t0, t1 = min(times), max(times)  # type: ignore[type-var]
        span = (t1 - t0).total_seconds()  # type: ignore[operator]
        xs = [left + inner_w * (t - t0).total_seconds() / span for t in times]  # type: ignore[operator]
    elif len(points) > 1:
        xs = [left + inner_w * i / (len(points) - 1) for i in range(len(points))]
    else:
        xs = [left + inner_w / 2] * len(points)
    dots = [
        {"x": round(x, 2), "y": round(top + inner_h * (1 - p["rate"] / 100.0), 2), "p": p}
        for x, p in zip(xs, points, strict=True)
    ]
    grid = [{"y": round(top + inner_h * (1 - v / 100.0), 2), "v": v} for v in (0, 25, 50, 75, 100)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": top + inner_h,
        "dots": dots,
        "polyline": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "grid": grid,
        "first": points[0]["started_at"][:10] if points else "",
        "last": points[-1]["started_at"][:10] if points else "",
    }


# -- renderers --------------------------------------------------------------------------------------------------

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hygiene.winpatch report v{{ m.schema }}">
<title>{{ m.title }} - run {{ m.run.run_id }}</title>
<style>
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1c2329;font-size:14px}
header{background:#1f3a4d;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}
main{padding:16px 24px;max-width:1800px}
section{background:#fff;border-radius:6px;padding:12px 16px;margin:0 0 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:16px;margin:0 0 10px}
.warn{background:#fff3e0;border-left:6px solid #e65100;padding:10px 14px;margin:0 0 16px;border-radius:4px}
.kpis{display:flex;flex-wrap:wrap;gap:10px}
.kpi{flex:1 1 auto;background:#fff;border-radius:6px;padding:10px 12px;min-width:96px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi b{display:block;font-size:24px}
.kpi span{font-size:12px;color:#52606d}
.kpi i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#eef2f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.nowrap{white-space:nowrap}
header p.policy{margin-top:4px}
.state{padding:1px 6px;border-radius:3px;color:#fff;font-size:12px;white-space:nowrap}
.legend span{margin-right:12px;font-size:12px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
svg text{font-family:"DejaVu Sans",sans-serif;font-size:11px;fill:#1c2329}
.muted{color:#52606d}
footer{padding:0 24px 24px;color:#52606d;font-size:12px;max-width:1800px}
</style>
</head>
<body>
{% macro chip(state) %}<span class="state" style="background:{{ colors[state] }}">{{ state }}</span>{% endmacro %}
{% macro pct(v) %}{{ "n/a" if v is none else "%.1f %%"|format(v) }}{% endmacro %}
{% macro stacked(id, rows, label_width=230) %}
<svg id="{{ id }}" role="img" width="{{ label_width + 640 }}" height="{{ rows|length * 22 + 6 }}"
 viewBox="0 0 {{ label_width + 640 }} {{ rows|length * 22 + 6 }}">
{% for r in rows %}
<g transform="translate(0,{{ loop.index0 * 22 + 3 }})">
<text x="{{ label_width - 6 }}" y="13" text-anchor="end">{{ r.label|truncate(40, true) }}</text>
{% for s in r.segments %}
<rect x="{{ label_width + s.x }}" y="2" width="{{ s.w }}" height="14" fill="{{ s.color }}"><title>{{ r.label }}: {{ s.n }} {{ s.state }}</title></rect>
{% endfor %}
<text x="{{ label_width + r.end + 6 }}" y="13">{{ r.total }}{{ r.suffix }}</text>
</g>
{% endfor %}
</svg>
{% endmacro %}
{% macro legend() %}<p class="legend">{% for s in states %}<span><i style="background:{{ colors[s] }}"></i>{{ s }}</span>{% endfor %}</p>{% endmacro %}
{% macro group_table(id, groups, what) %}
<table id="{{ id }}-table"><thead><tr><th>{{ what }}</th><th class="num">hosts</th><th class="num">compliant</th><th class="num">rate</th>
{% for s in states %}<th class="num">{{ s }}</th>{% endfor %}</tr></thead><tbody>
{% for g in groups %}
<tr><td>{{ g.name }}</td><td class="num">{{ g.hosts }}</td><td class="num">{{ g.compliant }}</td><td class="num">{{ pct(g.rate) }}</td>
{% for s in states %}<td class="num">{{ g.counts[s] }}</td>{% endfor %}</tr>
{% endfor %}
</tbody></table>
{% endmacro %}
<header>
<h1>{{ m.title }}</h1>
<p>Run {{ m.run.run_id }}{% if m.run.label %} ({{ m.run.label }}){% endif %} started {{ m.run.started_at }}
 &middot; baseline catalog dated <b id="catalog-date">{{ m.catalog.date or "unknown" }}</b></p>
{% set p = m.policy %}
<p class="policy" id="policy">Policy: baseline <b>{{ p.baseline if p.baseline is not none else "not recorded" }}</b>
{%- if p.baseline_month %} (hosts judged against <b id="policy-baseline-month">{{ p.baseline_month }}</b>){% endif %}
 &middot; as of <b id="policy-as-of">{{ p.as_of or "not recorded" }}</b>
{%- if p.as_of_source == "hosts" %} (from the hosts' results){% elif p.as_of_source == "run date" %} (not recorded: the day of the run){% endif %}
 &middot; grace <b>{{ p.grace_days if p.grace_days is not none else "not recorded" }}</b> days
 &middot; months tolerated <b>{{ p.months_tolerated if p.months_tolerated is not none else "not recorded" }}</b>
 &middot; hotpatch <b>{{ p.hotpatch if p.hotpatch is not none else "not recorded" }}</b>
 &middot; ESU <b>{{ "not recorded" if p.esu is none else ("yes" if p.esu else "no") }}</b></p>
</header>
<main>
{% if m.catalog.stale %}
<div class="warn" id="stale-catalog"><b>Stale catalog.</b>
{% set c = m.catalog %}
{% if c.after_date.months %}
 The baseline catalog is dated {{ c.date or "unknown" }}, older than the last Patch Tuesday: it lacks {{ c.after_date.months|and_list }} for every release ({{ c.after_date.hosts|hosts }}).
{% endif %}
{% for g in gap_groups %}
 {{ "It also lacks" if (c.after_date.months or not loop.first) else "The catalog lacks" }} {{ g.months|and_list }} for {{ g.releases|and_list }} ({{ g.hosts|hosts }}).
{% endfor %}
{% if not c.after_date.months and not gap_groups %}
 The run was recorded with a stale baseline catalog (dated {{ c.date or "unknown" }}); no host's result names a month it lacks.
{% endif %}
 Hosts judged against a month the catalog lacks have no expected build: refresh the catalog with
 hygiene.winpatch.catalog_update and assess again.
{% if stale_clause_cut %}
 The reasons below leave out the clause "the catalog is stale (data up to …)"; report.csv and report.json keep them whole.
{% endif %}
</div>
{% endif %}
<section>
<h2>Summary</h2>
<div class="kpis">
<div class="kpi"><b id="kpi-hosts">{{ m.summary.hosts }}</b><span>hosts</span></div>
<div class="kpi"><b id="kpi-rate">{{ pct(m.summary.compliance_rate) }}</b><span>compliant ({{ m.summary.compliant }})</span></div>
{% for s in states %}
<div class="kpi"><b id="kpi-{{ s }}">{{ m.summary.counts[s] }}</b><span><i style="background:{{ colors[s] }}"></i>{{ s }}</span></div>
{% endfor %}
</div>
</section>
<section id="trend">
<h2>Compliance rate per run</h2>
{% if trend.dots %}
<svg role="img" width="{{ trend.width }}" height="{{ trend.height }}" viewBox="0 0 {{ trend.width }} {{ trend.height }}">
{% for g in trend.grid %}
<line x1="{{ trend.left }}" x2="{{ trend.right }}" y1="{{ g.y }}" y2="{{ g.y }}" stroke="#e4e7eb"/>
<text x="{{ trend.left - 6 }}" y="{{ g.y + 4 }}" text-anchor="end">{{ g.v }}%</text>
{% endfor %}
<polyline points="{{ trend.polyline }}" fill="none" stroke="#1f6fb2" stroke-width="2"/>
{% for d in trend.dots %}
<circle cx="{{ d.x }}" cy="{{ d.y }}" r="3.5" fill="#1f6fb2"><title>run {{ d.p.run_id }} {{ d.p.started_at }}: {{ pct(d.p.rate) }} of {{ d.p.hosts }}</title></circle>
{% endfor %}
<text x="{{ trend.left }}" y="{{ trend.bottom + 20 }}">{{ trend.first }}</text>
<text x="{{ trend.right }}" y="{{ trend.bottom + 20 }}" text-anchor="end">{{ trend.last }}</text>
</svg>
{% endif %}
<table id="trend-table"><thead><tr><th>run</th><th>started</th><th class="num">hosts</th><th class="num">compliant</th><th class="num">rate</th></tr></thead><tbody>
{% for p in m.trend|reverse %}
<tr><td>{{ p.run_id }}</td><td>{{ p.started_at }}</td><td class="num">{{ p.hosts }}</td><td class="num">{{ p.compliant }}</td><td class="num">{{ pct(p.rate) }}</td></tr>
{% endfor %}
</tbody></table>
<p id="ttc">Time to compliance over {{ "the only run" if m.time_to_compliance.runs == 1 else "the last %d runs"|format(m.time_to_compliance.runs) }}:
{% if m.time_to_compliance.closed %}median <b>{{ m.time_to_compliance.median_days }}</b> days,
{% if m.time_to_compliance.p90_days is not none %}90th percentile {{ m.time_to_compliance.p90_days }} days, {% endif %}
longest {{ m.time_to_compliance.max_days }} days ({{ m.time_to_compliance.closed }} hosts caught up){% else %}no host has caught up yet{% endif %};
{% set t = m.time_to_compliance %}
{{ t.open }} still behind{% if t.open and t.oldest_open_days is not none %}
{%- if t.runs == 1 %} (first seen behind in this run: the history holds no earlier run to measure from)
{%- elif t.oldest_open_days < 1 %} (all first seen behind less than a day before this run)
{%- else %} (the longest first seen behind {{ t.oldest_open_days }} days before this run){% endif %}{% endif %}.
<span class="muted">Measured from the first run that saw a host behind or pending reboot to the first run that saw it compliant;
as fine as the interval between runs.</span></p>
</section>
{{ legend() }}
<section id="by-ring"><h2>By ring</h2>{{ stacked("chart-ring", rings) }}{{ group_table("ring", m.by_ring, "ring") }}</section>
<section id="by-site"><h2>By site</h2>{{ stacked("chart-site", sites) }}{{ group_table("site", m.by_site, "site") }}</section>
<section id="by-release"><h2>By release</h2>{{ stacked("chart-release", releases) }}{{ group_table("release", m.by_release, "release") }}</section>
<section id="builds"><h2>Build distribution</h2>{{ stacked("chart-builds", builds, 300) }}
<table id="builds-table"><thead><tr><th>release</th><th>build</th><th class="num">hosts</th><th>expected build</th></tr></thead><tbody>
{% for b in m.builds %}
<tr><td>{{ b.release }}</td><td class="nowrap">{{ b.build }}</td><td class="num">{{ b.hosts }}</td><td>{% if b.expected_build %}{{ b.expected_build }}{% else %}<span class="muted">{{ b.expected_note or "" }}</span>{% endif %}</td></tr>
{% endfor %}
</tbody></table></section>
<section id="laggards"><h2>Laggards ({{ m.laggards|length }})</h2>
{% if m.laggards %}
<table id="laggards-table"><thead><tr><th>host</th><th>state</th><th class="num">months behind</th><th>release</th><th>build</th><th>expected</th><th>site</th><th>ring</th><th>reason</th></tr></thead><tbody>
{% for h in m.laggards %}
<tr><td class="nowrap">{{ h.host }}</td><td>{{ chip(h.state) }}</td><td class="num">{{ h.months_behind if h.months_behind is not none else "" }}</td>
<td class="nowrap">{{ h.release or "" }}</td><td class="nowrap">{{ h.build or "" }}</td><td>{% if h.expected_build %}{{ h.expected_build }}{% elif h.details.get("baseline_month") %}<span class="muted">unknown ({{ h.details.get("baseline_month") }} is not in the catalog)</span>{% endif %}{% if h.expected_kb %} ({{ h.expected_kb }}){% endif %}</td>
<td>{{ h.site or "" }}</td><td>{{ h.ring or "" }}</td><td>{{ reason(h.reason) }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}<p>No host is behind.</p>{% endif %}
</section>
<section id="unreachable"><h2>Unreachable ({{ m.unreachable|length }})</h2>
{% if m.unreachable %}
<table id="unreachable-table"><thead><tr><th>host</th><th>site</th><th>ring</th><th>reason</th><th>checked</th></tr></thead><tbody>
{% for h in m.unreachable %}
<tr><td class="nowrap">{{ h.host }}</td><td>{{ h.site or "" }}</td><td>{{ h.ring or "" }}</td><td>{{ reason(h.reason) }}</td><td class="nowrap">{{ h.checked_at or "" }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}<p>Every host answered.</p>{% endif %}
</section>
{% if m.attention %}
<section id="attention"><h2>Errors and unsupported releases ({{ m.attention|length }})</h2>
<table id="attention-table"><thead><tr><th>host</th><th>state</th><th>release</th><th>build</th><th>reason</th></tr></thead><tbody>
{% for h in m.attention %}
<tr><td class="nowrap">{{ h.host }}</td><td>{{ chip(h.state) }}</td><td class="nowrap">{{ h.release or "" }}</td><td class="nowrap">{{ h.build or "" }}</td><td>{{ reason(h.reason) }}</td></tr>
{% endfor %}
</tbody></table>
</section>
{% endif %}
</main>
<footer>Compliant = current or grace; the rate counts every host of the run, unreachable and error included.
Laggards = behind or pending reboot. History: {{ m.history }}.</footer>
</body>
</html>
"""  # noqa: E501 - HTML rows read better whole than wrapped

_ENV = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
)


def _and_list(items: Sequence[Any]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = [str(i) for i in items]
    return " and ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} and {words[-1]}"


def _hosts(count: int) -> str:
    return f"{count} host" if count == 1 else f"{count} hosts"


_ENV.filters["and_list"] = _and_list
_ENV.filters["hosts"] = _hosts


def render_html(model: Mapping[str, Any]) -> str:
    """The self-contained HTML dashboard."""
    rings = _stacked_rows(model["by_ring"], lambda g: g["name"])
    sites = _stacked_rows(model["by_site"], lambda g: g["name"])
    releases = _stacked_rows(model["by_release"], lambda g: g["name"])
    for rows, groups in ((rings, model["by_ring"]), (sites, model["by_site"]), (releases, model["by_release"])):
        for row, group in zip(rows, groups, strict=True):
            noun = "host" if group["hosts"] == 1 else "hosts"
            row["suffix"] = f" {noun}, {group['rate']:.1f} % compliant" if group["rate"] is not None else ""
    builds = _stacked_rows(model["builds"], lambda b: f"{b['release']} {b['build']}")
    for row in builds:
        row["suffix"] = ""
    # The banner names the release gaps once per set of months: "lacks 2026-09 for A and B (12 hosts)".
    gap_groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for gap in model["catalog"]["release_gaps"]:
        group = gap_groups.setdefault(tuple(gap["months"]), {"months": gap["months"], "releases": [], "hosts": 0})
        group["releases"].append(gap["release"])
        group["hosts"] += gap["hosts"]
    shown = (*model["laggards"], *model["unreachable"], *model["attention"])
    stale_clause_cut = model["catalog"]["stale"] and any(_STALE_CLAUSE.search(h.get("reason") or "") for h in shown)
    template = _ENV.from_string(_TEMPLATE)
    return template.render(
        gap_groups=list(gap_groups.values()),
        stale_clause_cut=stale_clause_cut,
        m=model,
        states=STATES,
        colors=STATE_COLORS,
        rings=rings,
        sites=sites,
        releases=releases,
        builds=builds,
        trend=_trend_chart(model["trend"]),
        reason=short_reason if model["catalog"]["stale"] else (lambda text: text or ""),
    )


def _cell(value: Any) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and not isinstance(value, int | float) and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def render_csv(model: Mapping[str, Any]) -> str:
    """One line per host of the reported run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    run_id = model["run"]["run_id"]
    for host in model["hosts"]:
        writer.writerow([_cell(run_id if col == "run_id" else host.get(col)) for col in CSV_COLUMNS])
    return buffer.getvalue()


def render_json(model: Mapping[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


RENDERERS = {"html": render_html, "csv": render_csv, "json": render_json}


def _write_if_changed(path: str, text: str, check_mode: bool) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ReportError(f"Failed to read the existing report file {path}: {e}") from e
    if check_mode:
        return True
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".winpatch-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ReportError(f"Failed to write the report file {path}: {e}") from e
    return True


def write_report(
    history_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    formats: Sequence[str] = FORMATS,
    run_id: int | None = None,
    trend_runs: int = 52,
    title: str = "",
    check_mode: bool = False,
) -> dict[str, Any]:
    """Render the report files into ``dest``; returns paths, what changed and the headline numbers."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown or not formats:
        raise ReportError(
            f"Failed to render the report: formats must be a non-empty list of {', '.join(FORMATS)}, "
            f"got {list(formats)!r}"
        )
    with open_history(history_path, create=False) as history:
        model = build_model(history, run_id=run_id, trend_runs=trend_runs, title=title)
    dest = os.fspath(dest)
    if not check_mode:
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as e:
            raise ReportError(f"Failed to create the report directory {dest}: {e}") from e
    paths: dict[str, str] = {}
    changed: list[str] = []
    for fmt in dict.fromkeys(formats):
        path = os.path.join(dest, FILE_NAMES[fmt])
        paths[fmt] = path
        if _write_if_changed(path, RENDERERS[fmt](model), check_mode):
            changed.append(fmt)
    return {
        "changed": bool(changed),
        "changed_formats": changed,
        "paths": paths,
        "run_id": model["run"]["run_id"],
        "hosts": model["summary"]["hosts"],
        "compliant": model["summary"]["compliant"],
        "compliance_rate": model["summary"]["compliance_rate"],
        "counts": model["summary"]["counts"],
        "catalog_date": model["catalog"]["date"],
        "catalog_stale": model["catalog"]["stale"],
    }
