# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The compliance policy: which month is the baseline and how much lag is tolerated.

Options (all optional; unknown names are an error so that typos do not silently fall back to defaults):

- ``baseline``: ``latest`` (the month of the last Patch Tuesday on or before ``as_of``) or a fixed ``YYYY-MM``.
- ``grace_days`` (14): days after a month's security (B) release during which a host that has the previous
  month is in ``grace`` rather than ``behind``.
- ``months_tolerated`` (0): further months of lag accepted after the grace period.
- ``hotpatch``: ``accept`` (a month's hotpatch build satisfies that month) or ``ignore``.
- ``esu``: whether hosts of a release past its end of support are enrolled in Extended Security Updates.
- ``as_of``: the day to judge on, a ``datetime.date`` or ``YYYY-MM-DD``; default today; never in the future.
- ``catalog_path``: the baseline catalog to read instead of the one shipped with the collection.

Also holds the Patch Tuesday calendar helpers the compliance core uses.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import PolicyError

BASELINE_LATEST = "latest"
HOTPATCH_CHOICES = ("accept", "ignore")
DEFAULT_GRACE_DAYS = 14
DEFAULT_MONTHS_TOLERATED = 0
# Nothing in the catalog predates Windows 10; a baseline before it is a typo.
_EARLIEST_MONTH = "2015-07"
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

OPTIONS = ("baseline", "grace_days", "months_tolerated", "hotpatch", "esu", "as_of", "catalog_path")


# --- Patch Tuesday calendar -------------------------------------------------------------------------------------


def patch_tuesday(month: str) -> datetime.date:
    """The second Tuesday of ``YYYY-MM``: the day Microsoft publishes that month's security (B) releases."""
    year, number = _split_month(month)
    first = datetime.date(year, number, 1)
    first_tuesday = first + datetime.timedelta(days=(1 - first.weekday()) % 7)
    return first_tuesday + datetime.timedelta(days=7)


def month_of(day: datetime.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(month: str, count: int) -> str:
    year, number = _split_month(month)
    index = year * 12 + (number - 1) + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(start: str, end: str) -> list[str]:
    """Every ``YYYY-MM`` from ``start`` to ``end``, both included (empty when start > end)."""
    months: list[str] = []
    current = start
    while current <= end:
        months.append(current)
        current = add_months(current, 1)
    return months


def latest_patch_month(as_of: datetime.date) -> str:
    """The month of the last Patch Tuesday on or before ``as_of``."""
    month = month_of(as_of)
    return month if patch_tuesday(month) <= as_of else add_months(month, -1)


def _split_month(month: str) -> tuple[int, int]:
    match = _MONTH.fullmatch(month)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{month!r} is not a month in YYYY-MM form")
    return int(match.group(1)), int(match.group(2))


# --- the policy ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build it with :meth:`Policy.from_options`; the constructor does not validate."""

    baseline: str = BASELINE_LATEST
    grace_days: int = DEFAULT_GRACE_DAYS
    months_tolerated: int = DEFAULT_MONTHS_TOLERATED
    hotpatch: str = "accept"
    esu: bool = False
    as_of: datetime.date = field(default_factory=datetime.date.today)
    catalog_path: str | None = None

    @property
    def baseline_month(self) -> str:
        """The month hosts must have: the fixed month, or the latest Patch Tuesday's month as of ``as_of``."""
        return latest_patch_month(self.as_of) if self.baseline == BASELINE_LATEST else self.baseline

    @property
    def accept_hotpatch(self) -> bool:
        return self.hotpatch == "accept"

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "grace_days": self.grace_days,
            "months_tolerated": self.months_tolerated,
            "hotpatch": self.hotpatch,
            "esu": self.esu,
            "as_of": self.as_of.isoformat(),
            "catalog_path": self.catalog_path,
        }

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any] | None = None, *, today: datetime.date | None = None, **kwargs: Any
    ) -> Policy:
        """Validate policy options (a mapping and/or keyword arguments); ``None`` values mean the default.

        ``today`` is the reference for the default ``as_of`` and for refusing future dates (default: the
        controller's local date). Raises :class:`PolicyError` naming the option and the reason.
        """
        merged: dict[str, Any] = {}
        if options is not None:
            if not isinstance(options, Mapping):
                raise PolicyError(f"Failed to read the policy: expected a mapping of options, got {options!r}")
            merged.update(options)
        merged.update(kwargs)
        unknown = sorted(str(name) for name in merged if name not in OPTIONS)
        if unknown:
            raise PolicyError(
                f"Failed to read the policy: unknown option(s) {', '.join(unknown)}; valid options are "
                f"{', '.join(OPTIONS)}"
            )
        today = today or datetime.date.today()
        as_of = _as_of(merged.get("as_of"), today)
        baseline = _baseline(merged.get("baseline"), as_of)
        return cls(
            baseline=baseline,
            grace_days=_non_negative_int("grace_days", merged.get("grace_days"), DEFAULT_GRACE_DAYS),
            months_tolerated=_non_negative_int(
                "months_tolerated", merged.get("months_tolerated"), DEFAULT_MONTHS_TOLERATED
            ),
            hotpatch=_choice("hotpatch", merged.get("hotpatch"), HOTPATCH_CHOICES, "accept"),
            esu=_bool("esu", merged.get("esu"), False),
            as_of=as_of,
            catalog_path=_optional_path("catalog_path", merged.get("catalog_path")),
        )


def _fail(option: str, value: Any, reason: str) -> PolicyError:
    return PolicyError(f"Failed to validate policy option {option}={value!r}: {reason}")


def _as_of(value: Any, today: datetime.date) -> datetime.date:
    if value is None or value == "":
        return today
    if isinstance(value, datetime.date):
        # An unquoted YAML date (ansible-core 2.19 tags it, a date subclass): a plain date, named as written.
        day = datetime.date(value.year, value.month, value.day)
        value = value.isoformat()
    elif isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            day = datetime.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise _fail("as_of", value, f"not a valid date ({exc})") from None
    else:
        raise _fail("as_of", value, "expected a date in YYYY-MM-DD form")
    if day > today:
        raise _fail("as_of", value, f"the date is in the future (today is {today.isoformat()})")
    if month_of(day) < _EARLIEST_MONTH:
        raise _fail("as_of", value, f"the date is before Windows 10 ({_EARLIEST_MONTH})")
    return day


def _baseline(value: Any, as_of: datetime.date) -> str:
    if value is None or value == "":
        return BASELINE_LATEST
    if isinstance(value, datetime.date):
        value = month_of(value)
    if not isinstance(value, str):
        raise _fail("baseline", value, "expected 'latest' or a month in YYYY-MM form")
    text = value.strip()
    if text.lower() == BASELINE_LATEST:
        return BASELINE_LATEST
    try:
        _split_month(text)
    except ValueError:
        raise _fail("baseline", value, "expected 'latest' or a month in YYYY-MM form") from None
    if text < _EARLIEST_MONTH:
        raise _fail("baseline", value, f"the month is before Windows 10 ({_EARLIEST_MONTH})")
    released = patch_tuesday(text)
    if released > as_of:
        raise _fail(
            "baseline",
            value,
            f"that month's Patch Tuesday ({released.isoformat()}) is after as_of ({as_of.isoformat()})",
        )
    return text


def _non_negative_int(option: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise _fail(option, value, "expected a whole number >= 0, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise _fail(option, value, "expected a whole number >= 0")
    if number < 0:
        raise _fail(option, value, "must be >= 0")
    return number


def _choice(option: str, value: Any, choices: tuple[str, ...], default: str) -> str:
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise _fail(option, value, f"expected one of {', '.join(choices)}")


def _bool(option: str, value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    convert: Callable[..., bool] = boolean
    try:
        return convert(value, strict=True)
    except TypeError as exc:
        raise _fail(option, value, f"expected a boolean ({exc})") from None


def _optional_path(option: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if hasattr(value, "__fspath__"):
        return str(value.__fspath__())
    raise _fail(option, value, "expected a file path")
