# SPDX-License-Identifier: GPL-3.0-or-later
"""Policy validation and the Patch Tuesday calendar."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import PolicyError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import (
    Policy,
    add_months,
    latest_patch_month,
    months_between,
    patch_tuesday,
)

TODAY = datetime.date(2026, 12, 3)


def make(**options):
    return Policy.from_options(options, today=TODAY)


@pytest.mark.parametrize(
    ("month", "day"),
    [
        # real Patch Tuesdays, from release-history.csv
        ("2024-09", datetime.date(2024, 9, 10)),
        ("2025-10", datetime.date(2025, 10, 14)),
        ("2026-01", datetime.date(2026, 1, 13)),
        ("2026-09", datetime.date(2026, 9, 8)),
        ("2026-12", datetime.date(2026, 12, 8)),
        ("2023-08", datetime.date(2023, 8, 8)),  # the 1st is a Tuesday
    ],
)
def test_patch_tuesday_is_the_second_tuesday(month, day):
    assert patch_tuesday(month) == day


def test_latest_patch_month():
    assert latest_patch_month(datetime.date(2026, 12, 3)) == "2026-11"
    assert latest_patch_month(datetime.date(2026, 12, 8)) == "2026-12"
    assert latest_patch_month(datetime.date(2026, 1, 12)) == "2025-12"


def test_month_arithmetic():
    assert add_months("2025-11", 2) == "2026-01"
    assert add_months("2026-01", -1) == "2025-12"
    assert months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months_between("2026-02", "2026-01") == []


def test_defaults():
    policy = make()
    assert policy.as_dict() == {
        "baseline": "latest",
        "grace_days": 14,
        "months_tolerated": 0,
        "hotpatch": "accept",
        "esu": False,
        "as_of": "2026-12-03",
        "catalog_path": None,
    }
    assert policy.baseline_month == "2026-11"


def test_real_today_is_the_default_as_of():
    assert Policy.from_options().as_of == datetime.date.today()


def test_values_as_they_come_from_ansible_strings():
    policy = make(baseline="2026-06", grace_days="7", months_tolerated="1", hotpatch="IGNORE", esu="yes")
    assert (policy.baseline, policy.grace_days, policy.months_tolerated, policy.hotpatch, policy.esu) == (
        "2026-06",
        7,
        1,
        "ignore",
        True,
    )
    assert policy.baseline_month == "2026-06"
    assert not policy.accept_hotpatch


def test_as_of_accepts_date_datetime_and_iso_string():
    assert make(as_of="2026-01-20").as_of == datetime.date(2026, 1, 20)
    assert make(as_of=datetime.date(2026, 1, 20)).as_of == datetime.date(2026, 1, 20)
    assert make(as_of=datetime.datetime(2026, 1, 20, 23, 59)).as_of == datetime.date(2026, 1, 20)


def test_as_of_date_subclass_becomes_a_plain_date():
    # An unquoted YAML date reaches the policy as a date subclass (ansible-core 2.19 tags it).
    class TaggedDate(datetime.date):
        pass

    policy = make(as_of=TaggedDate(2026, 9, 20))
    assert not isinstance(policy.as_of, TaggedDate)
    assert policy.as_of == datetime.date(2026, 9, 20)
    assert policy.as_dict()["as_of"] == "2026-09-20"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            datetime.date(2026, 12, 4),
            "Failed to validate policy option as_of='2026-12-04': the date is in the future (today is 2026-12-03)",
        ),
        (
            datetime.date(2015, 6, 30),
            "Failed to validate policy option as_of='2015-06-30': the date is before Windows 10 (2015-07)",
        ),
        (
            datetime.datetime(2026, 12, 4, 8, 0),
            "Failed to validate policy option as_of='2026-12-04T08:00:00': the date is in the future (today is "
            "2026-12-03)",
        ),
    ],
)
def test_bad_date_objects_are_named_as_written(value, message):
    with pytest.raises(PolicyError) as info:
        make(as_of=value)
    assert str(info.value) == message


def test_none_means_default():
    assert make(grace_days=None, baseline=None, esu=None).grace_days == 14


@pytest.mark.parametrize(
    ("options", "option", "fragment"),
    [
        ({"baseline": "2026-13"}, "baseline", "YYYY-MM"),
        ({"baseline": "latest-1"}, "baseline", "YYYY-MM"),
        ({"baseline": "2026-6"}, "baseline", "YYYY-MM"),
        ({"baseline": 202606}, "baseline", "YYYY-MM"),
        ({"baseline": "2026-12"}, "baseline", "2026-12-08) is after as_of (2026-12-03)"),
        ({"baseline": "2026-02", "as_of": "2026-02-09"}, "baseline", "is after as_of"),
        ({"baseline": "2014-01"}, "baseline", "before Windows 10"),
        ({"grace_days": -1}, "grace_days", ">= 0"),
        ({"grace_days": "two"}, "grace_days", "whole number"),
        ({"grace_days": True}, "grace_days", "boolean"),
        ({"grace_days": 1.5}, "grace_days", "whole number"),
        ({"months_tolerated": -2}, "months_tolerated", ">= 0"),
        ({"hotpatch": "sometimes"}, "hotpatch", "accept, ignore"),
        ({"esu": "maybe"}, "esu", "boolean"),
        ({"as_of": "2026-12-04"}, "as_of", "in the future (today is 2026-12-03)"),
        ({"as_of": "2026-02-30"}, "as_of", "not a valid date"),
        ({"as_of": "03/12/2026"}, "as_of", "YYYY-MM-DD"),
        ({"as_of": 20261203}, "as_of", "YYYY-MM-DD"),
        ({"catalog_path": 42}, "catalog_path", "file path"),
    ],
)
def test_bad_values_name_the_option_and_reason(options, option, fragment):
    with pytest.raises(PolicyError) as info:
        make(**options)
    message = str(info.value)
    assert message.startswith(f"Failed to validate policy option {option}=")
    assert fragment in message


def test_unknown_option_is_refused_with_the_valid_names():
    with pytest.raises(PolicyError, match="unknown option\\(s\\) grace; valid options are baseline"):
        make(grace=3)


def test_options_must_be_a_mapping():
    with pytest.raises(PolicyError, match="mapping"):
        Policy.from_options(["baseline"])  # type: ignore[arg-type]


def test_mapping_and_keywords_merge_keywords_win():
    policy = Policy.from_options({"grace_days": 3, "esu": True}, grace_days=5, today=TODAY)
    assert (policy.grace_days, policy.esu) == (5, True)
