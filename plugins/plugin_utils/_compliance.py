# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Compliance of one host: its build against the baseline catalog, under a policy (DESIGN.md section 2).

:func:`assess` takes the registry values a host reports and returns one result dict whose ``state`` is one of
``current``, ``grace``, ``behind``, ``pending_reboot``, ``unsupported`` or ``error``
(:func:`unreachable_result` gives the same keys with ``unreachable``).

How a host is judged, for its release (same servicing stream, compared by UBR as integers):

- It *satisfies* month M when its UBR is >= the UBR of M's B (Patch Tuesday) release; preview (D) and
  out-of-band builds are higher than their month's B, so they count as that month. With ``hotpatch: accept`` a
  UBR equal to one of M's HOTPATCH builds satisfies M as well (hotpatch builds carry their own lower UBRs).
  Only updates released on or before ``as_of`` are considered.
- Its *level* is the latest month it satisfies. ``months_behind`` counts the calendar months after the level up to
  the baseline month (Microsoft ships a B release every month), from the release's first catalogued month.
- ``current``: nothing missing. Below the baseline: ``pending_reboot`` when the host reports a pending reboot;
  ``grace`` when the missing months are covered by ``months_tolerated`` plus, while within ``grace_days`` of the
  baseline's release, the baseline month itself; ``behind`` otherwise.
- A month the catalog holds no B release for (the catalog is older than the last Patch Tuesday, or lacks the month
  for this release) can never be satisfied by a known build: such a host is ``grace`` or ``behind`` with the KB
  unknown. Only a host newer than every update the catalog knows for its release (or with a later month's update)
  is taken as ``current``, and then the reason carries the warning.
- Staleness is judged per release as well: when the catalog lacks the baseline month for the host's release while
  the release was in support then, the result has ``catalog_stale: true``, the months the release lacks (added to
  the globally missing ones) in ``missing_months``, and the reason says "the catalog lacks <months> for <release>"
  and how to refresh it, exactly as for a catalog older than the last Patch Tuesday. Months after the release's end
  of support are not missing.
- Releases past their end of support for the host's edition group are ``unsupported`` (Windows 10 22H2 counts
  with ``esu: true`` until the ESU end); so are retired and unknown builds.

Bad host data never raises: it gives ``error`` with the cause. A bad policy raises
:class:`~.._errors.PolicyError`; an unreadable catalog raises :class:`~.._errors.CatalogError` (a configuration
problem that would otherwise repeat on every host).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import (
    Catalog,
    CatalogRelease,
    Update,
    load_catalog,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import BuildError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._identify import Identity, identify
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import (
    Policy,
    latest_patch_month,
    month_of,
    months_between,
    patch_tuesday,
)

STATES = ("current", "grace", "behind", "pending_reboot", "unsupported", "unreachable", "error")
REFRESH_HINT = "refresh it with hygiene.winpatch.catalog_update"

# Lifecycle fallback when a release's lifecycle has no entry for the host's edition group.
_GROUP_FALLBACK: dict[str, tuple[str, ...]] = {
    "iot_ltsc": ("iot_ltsc", "ltsc", "enterprise", "default"),
    "ltsc": ("ltsc", "enterprise", "default"),
    "enterprise": ("enterprise", "default"),
    "default": ("default",),
}
# ESU (Extended Security Updates) covers the general-availability editions, not LTSC ones.
_ESU_GROUPS = ("default", "enterprise")


def _base_result(catalog: Catalog | None, as_of: datetime.date) -> dict[str, Any]:
    stale, missing = _staleness(catalog, as_of)
    return {
        "state": "error",
        "release": None,
        "release_id": None,
        "build": None,
        "expected_build": None,
        "expected_kb": None,
        "expected_prerequisites": [],
        "months_behind": None,
        "installed_month": None,
        "reason": "",
        "catalog_date": catalog.data_date.isoformat() if catalog is not None else None,
        "catalog_stale": stale,
        "missing_months": missing,
        "baseline_month": None,
        "end_of_support": None,
        "edition_group": None,
        "as_of": as_of.isoformat(),
    }


def _staleness(catalog: Catalog | None, as_of: datetime.date) -> tuple[bool | None, list[str]]:
    """Whether the catalog is older than the last Patch Tuesday on/before ``as_of``, and the months it lacks."""
    if catalog is None:
        return None, []
    last = latest_patch_month(as_of)
    missing = [m for m in months_between(month_of(catalog.data_date), last) if patch_tuesday(m) > catalog.data_date]
    return bool(missing), missing


def _stale_clause(catalog: Catalog, missing: list[str]) -> str:
    return (
        f"the catalog is stale (data up to {catalog.data_date.isoformat()}, missing {_join(missing)}): {REFRESH_HINT}"
    )


def _join(months: list[str]) -> str:
    if len(months) <= 4:
        return ", ".join(months)
    return f"{months[0]} .. {months[-1]} ({len(months)} months)"


def unreachable_result(
    reason: str, catalog: Catalog | None = None, *, as_of: datetime.date | None = None
) -> dict[str, Any]:
    """The result for a host that could not be read; same keys as :func:`assess`, state ``unreachable``."""
    result = _base_result(catalog, as_of or datetime.date.today())
    result["state"] = "unreachable"
    reason = reason.strip().rstrip(".") or "the host could not be reached"
    if catalog is not None and result["catalog_stale"]:
        reason = f"{reason}; {_stale_clause(catalog, result['missing_months'])}"
    result["reason"] = reason + "."
    return result


@dataclass(frozen=True)
class _Host:
    registry: Mapping[str, Any]
    pending_reboot: bool
    hotpatch_enrolled: bool | None


def _flag(name: str, value: Any, key: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get(key)
        if value is None:
            return None
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise BuildError(f"Failed to read {name}: expected a boolean, got {value!r}") from None


def _host(values: Any) -> _Host:
    """Accept flat registry values, or the ``build_facts`` script result (``registry`` plus the signals)."""
    if not isinstance(values, Mapping):
        raise BuildError(f"Failed to read the host values: expected a mapping of registry values, got {values!r}")
    registry = values.get("registry") if isinstance(values.get("registry"), Mapping) else values
    pending = _flag("pending_reboot", values.get("pending_reboot"), "any")
    hotpatch = values.get("hotpatch_enrolled")
    if hotpatch is None and isinstance(values.get("hotpatch"), Mapping):
        hotpatch = values["hotpatch"]
    return _Host(registry, bool(pending), _flag("hotpatch_enrolled", hotpatch, "enrolled"))


def _end_of_support(release: CatalogRelease, group: str) -> datetime.date | None:
    for candidate in _GROUP_FALLBACK.get(group, ("default",)):
        if candidate in release.lifecycle:
            return release.lifecycle[candidate]
    return None


def assess(values: Mapping[str, Any], catalog: Catalog | None = None, **policy: Any) -> dict[str, Any]:
    """Judge one host; see the module docstring. ``policy`` keywords are :class:`Policy` options."""
    pol = Policy.from_options(policy)
    if catalog is None:
        catalog = load_catalog(pol.catalog_path)
    result = _base_result(catalog, pol.as_of)
    result["baseline_month"] = pol.baseline_month
    globally_missing = list(result["missing_months"])

    def finish(state: str, reason: str, relevant: list[str] | None = None) -> dict[str, Any]:
        """Set the state and the reason; ``relevant`` are the globally missing months the judgement depends on
        (None: all of them, for results that are not a month-by-month judgement)."""
        result["state"] = state
        months = globally_missing if relevant is None else relevant
        if months and "catalog is stale" not in reason:
            reason = f"{reason}; {_stale_clause(catalog, months)}"
        result["reason"] = reason.rstrip(".") + "."
        return result

    try:
        host = _host(values)
        ident = identify(host.registry)
    except BuildError as exc:
        return finish("error", str(exc))

    result.update(release=ident.name, release_id=ident.release_id, build=ident.build_str)
    result["edition_group"] = ident.edition_group
    if ident.release_id is None:
        return finish("unsupported", f"{ident.name} ({ident.build_str}) cannot be assessed: {ident.note}")
    release = catalog.release(ident.release_id)
    if release is None:
        return finish(
            "unsupported",
            f"{ident.name} ({ident.build_str}) cannot be assessed: the catalog has no entry for {ident.release_id}; "
            f"{REFRESH_HINT}",
        )
    return _judge(ident, release, host, pol, result, finish)


def _judge(
    ident: Identity,
    release: CatalogRelease,
    host: _Host,
    pol: Policy,
    result: dict[str, Any],
    finish: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    as_of = pol.as_of
    group = ident.edition_group
    eos = _end_of_support(release, group)
    esu_applies = release.esu_end is not None and group in _ESU_GROUPS
    in_esu = False
    result["end_of_support"] = eos.isoformat() if eos else None
    if esu_applies and pol.esu and release.esu_end is not None:
        # under ESU the host keeps receiving updates until the ESU end
        result["end_of_support"] = release.esu_end.isoformat()
    if eos is not None and as_of > eos:
        if esu_applies and pol.esu and release.esu_end is not None and as_of <= release.esu_end:
            in_esu = True
        else:
            tail = ""
            if esu_applies and release.esu_end is not None and as_of <= release.esu_end:
                tail = (
                    f"; set esu: true if the host is enrolled in Extended Security Updates "
                    f"(until {release.esu_end.isoformat()})"
                )
            elif esu_applies and release.esu_end is not None:
                tail = f" and its Extended Security Updates ended on {release.esu_end.isoformat()}"
            editions = f" ({_group_label(group)})" if release.family == "client" else ""
            return finish(
                "unsupported",
                f"{ident.name}{editions} reached its end of support on {eos.isoformat()}{tail}",
            )

    released = [u for u in release.updates if u.date <= as_of]
    b_by_month: dict[str, Update] = {}
    hotpatch_by_month: dict[str, list[Update]] = {}
    for update in released:
        if update.kind == "B":
            known = b_by_month.get(update.month)
            if known is None or update.ubr < known.ubr:
                b_by_month[update.month] = update
        elif update.kind == "HOTPATCH":
            hotpatch_by_month.setdefault(update.month, []).append(update)
    baseline = pol.baseline_month
    if not b_by_month or min(b_by_month) > baseline:
        return finish(
            "unsupported",
            f"the catalog lists no update of {ident.name} released by {as_of.isoformat()} up to the baseline "
            f"{baseline}, so {ident.build_str} cannot be judged",
        )

    ubr = ident.ubr
    level: str | None = None
    level_update: Update | None = None
    for month in sorted(b_by_month):
        if ubr >= b_by_month[month].ubr:
            level, level_update = month, b_by_month[month]
    if pol.accept_hotpatch:
        for month, updates in hotpatch_by_month.items():
            for update in updates:
                if update.ubr == ubr and (level is None or month > level):
                    level, level_update = month, update
    newest = max(released, key=lambda u: u.ubr)
    newer_than_catalog = ubr > newest.ubr

    first = min(b_by_month)
    due = months_between(first, baseline)
    missed = [] if newer_than_catalog else [m for m in due if level is None or m > level]
    unknown = [m for m in missed if m not in b_by_month]
    result["months_behind"] = len(missed)
    result["installed_month"] = level

    expected = b_by_month.get(baseline)
    if expected is not None:
        result["expected_kb"] = expected.kb
        result["expected_build"] = expected.build_str
        result["expected_prerequisites"] = list(expected.prerequisites)

    label = f"{ident.name} {ident.build_str}"
    # Months the catalog lacks for this release although the release was in support then (a catalog whose sources
    # ended early for some releases): when the baseline is one of them, the catalog is stale for this host.
    globally_stale = bool(result["catalog_stale"])
    # Of the months after the catalog's data date, only the baseline month and the months the host misses up to it
    # matter to the judgement (a fixed baseline before them is judged in full); the reason names only those.
    relevant = [m for m in result["missing_months"] if m == baseline or m in missed]
    support_end = release.esu_end if in_esu else eos
    gap_months = [
        m
        for m in due
        if m not in b_by_month
        and m not in result["missing_months"]
        and (support_end is None or patch_tuesday(m) <= support_end)
    ]
    gap_clause = None
    if gap_months and baseline not in b_by_month:
        result["catalog_stale"] = True
        result["missing_months"] = sorted({*result["missing_months"], *gap_months})
    if gap_months and (expected is None or unknown):
        gap_clause = f"the catalog lacks {_join(gap_months)} for {ident.name}"
        if not (globally_stale and relevant):
            gap_clause += f": {REFRESH_HINT}"
    if not missed:
        if newer_than_catalog and expected is None:
            why = (
                f"{label} is newer than every update the catalog lists for it "
                f"(newest {newest.kb} {newest.build_str}, {newest.month}), so it is taken as current"
            )
        elif level_update is not None and level_update.kind == "HOTPATCH":
            why = f"{label} has the {level} hotpatch {level_update.kb}, which satisfies the {baseline} baseline"
        elif expected is None:
            why = f"{label} has the {level} update, which covers the {baseline} baseline"
        else:
            why = f"{label} has the {baseline} baseline {expected.kb} ({expected.build_str}) or later"
        return finish("current", _with(why, gap_clause, in_esu, release), relevant)

    # Below the baseline.
    baseline_release = expected.date if expected is not None else patch_tuesday(baseline)
    grace_end = baseline_release + datetime.timedelta(days=pol.grace_days)
    in_grace = as_of <= grace_end
    allowed = pol.months_tolerated + (1 if in_grace else 0)
    count = len(missed)
    months_word = "month" if count == 1 else "months"
    if level is None:
        have = f"is older than every {ident.name} update the catalog lists (first: {b_by_month[first].kb}, {first})"
        count_text = f"at least {count} {months_word} behind"
    else:
        have = f"has the {level} update"
        count_text = f"{count} {months_word} behind"
    need = _need(baseline, expected, unknown)
    esu_hint = _esu_hint(release, ident, in_esu)

    if host.pending_reboot:
        why = (
            f"{label} {have} and reports a pending reboot, so an installed update may not be active yet; "
            f"{count_text}, {need}"
        )
        return finish("pending_reboot", _with(why, gap_clause, in_esu, release, esu_hint), relevant)
    if count <= allowed:
        parts = []
        if in_grace:
            parts.append(f"within the {pol.grace_days}-day grace of {baseline} (until {grace_end.isoformat()})")
        if pol.months_tolerated:
            parts.append(f"months_tolerated is {pol.months_tolerated}")
        why = f"{label} {have}, {count_text} but {' and '.join(parts)}; {need}"
        return finish("grace", _with(why, gap_clause, in_esu, release, esu_hint), relevant)
    # Say what is tolerated: the grace window excuses only the baseline month itself, months_tolerated the rest.
    if in_grace:
        grace_text = (
            f"the {pol.grace_days}-day grace of {baseline}, until {grace_end.isoformat()}, excuses only the "
            f"{baseline} update itself"
        )
    else:
        grace_text = f"the {pol.grace_days}-day grace of {baseline} ended {grace_end.isoformat()}"
    if pol.months_tolerated:
        more = " more" if in_grace else ""
        grace_text += f", and months_tolerated allows {pol.months_tolerated}{more} month(s)"
    elif in_grace:
        grace_text += ", and months_tolerated is 0"
    why = f"{label} {have}, {count_text} ({grace_text}); {need}"
    return finish("behind", _with(why, gap_clause, in_esu, release, esu_hint), relevant)


def _need(baseline: str, expected: Update | None, unknown: list[str]) -> str:
    if expected is not None:
        return f"expected {expected.kb} ({expected.build_str}) for {baseline}"
    return f"the {baseline} update is not in the catalog (KB unknown)"


def _esu_hint(release: CatalogRelease, ident: Identity, in_esu: bool) -> str | None:
    """During ESU, a host stalled at/below the last pre-ESU update most likely has no activated ESU key."""
    if not in_esu:
        return None
    eos = _end_of_support(release, ident.edition_group)
    if eos is None:
        return None
    floor = [u for u in release.updates if u.kind == "B" and u.date <= eos]
    if not floor:
        return None
    last = max(floor, key=lambda u: u.ubr)
    if ident.ubr <= last.ubr:
        return (
            f"ESU not activated? the host is stalled at or below {last.kb} ({last.build_str}), "
            f"the last update before end of support on {eos.isoformat()}"
        )
    return None


def _with(why: str, gap_clause: str | None, in_esu: bool, release: CatalogRelease, esu_hint: str | None = None) -> str:
    parts = [why]
    if esu_hint:
        parts.append(esu_hint)
    elif in_esu and release.esu_end is not None:
        parts.append(f"counted under Extended Security Updates until {release.esu_end.isoformat()}")
    if gap_clause:
        parts.append(gap_clause)
    return "; ".join(parts)


def _group_label(group: str) -> str:
    return {
        "default": "Home/Pro editions",
        "enterprise": "Enterprise/Education editions",
        "ltsc": "LTSC editions",
        "iot_ltsc": "IoT Enterprise LTSC editions",
    }.get(group, group)
