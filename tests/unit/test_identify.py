# SPDX-License-Identifier: GPL-3.0-or-later
"""Release identification from registry values, including the traps in shared/data/host-samples."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import BuildError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._identify import (
    build_of,
    identify,
    identify_release,
    parse_build,
    parse_ubr,
)
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import RELEASES


def shared_data() -> Path:
    env = os.environ.get("WINPATCH_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def host(build: int | str, ubr: int | str, installation_type: str | None = "Client", edition: str | None = None):
    values: dict[str, object] = {"CurrentBuild": str(build), "UBR": ubr}
    if installation_type is not None:
        values["InstallationType"] = installation_type
    if edition is not None:
        values["EditionID"] = edition
    return values


# --- parse_build -------------------------------------------------------------------------------------------------


def test_parse_build_gives_integer_tuples_that_compare_numerically():
    assert parse_build("10.0.26100.7171") == (10, 0, 26100, 7171)
    # the classic trap: as strings "10.0.19045.999" > "10.0.19045.6456"
    assert parse_build("10.0.19045.999") < parse_build("10.0.19045.6456")


def test_parse_build_ignores_zero_width_characters_seen_in_cvrf_data():
    assert parse_build("10.0.19041.5000\u200b") == (10, 0, 19041, 5000)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("10.0.26100", "four dot-separated"),
        ("10.0.26100.7171.1", "four dot-separated"),
        ("10.0.26100.x", "part 4"),
        ("10.0.26100.-1", "part 4"),
        ("0.0.26200.4652", "major version 0"),
        ("", "four dot-separated"),
    ],
)
def test_parse_build_rejects_malformed_values(value, fragment):
    with pytest.raises(BuildError, match=re.escape(fragment)) as info:
        parse_build(value)
    assert repr(value) in str(info.value)


def test_parse_build_rejects_non_strings():
    with pytest.raises(BuildError, match="expected a string"):
        parse_build(26100.7171)  # type: ignore[arg-type]


# --- UBR shapes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [(7171, 7171), ("7171", 7171), ("0x1c03", 7171), (" 0X1C03 ", 7171)])
def test_ubr_accepts_int_decimal_string_and_reg_exe_hex(raw, expected):
    assert parse_ubr(raw) == expected
    assert identify(host(26100, raw)).build == (10, 0, 26100, expected)


@pytest.mark.parametrize("raw", ["1c03", "7171.0", "-5", True, 71.71, "0x", [7171]])
def test_ubr_rejects_other_shapes(raw):
    with pytest.raises(BuildError, match="UBR"):
        identify(host(26100, raw))


def test_ubr_outside_dword_range_is_rejected():
    with pytest.raises(BuildError, match="REG_DWORD"):
        parse_ubr(2**32)


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_ubr_is_a_precise_error(missing):
    values = host(26100, 0)
    values["UBR"] = missing
    with pytest.raises(BuildError, match="UBR is missing"):
        identify(values)
    del values["UBR"]
    with pytest.raises(BuildError, match="UBR is missing"):
        identify(values)


# --- CurrentBuild shapes ------------------------------------------------------------------------------------------


def test_current_build_number_is_accepted_alone_and_as_int():
    assert identify({"CurrentBuildNumber": 22631, "UBR": 6060, "InstallationType": "Client"}).release_id == (
        "windows_11_23h2"
    )


def test_disagreeing_current_build_values_are_an_error():
    with pytest.raises(BuildError, match="disagree"):
        identify({"CurrentBuild": "22631", "CurrentBuildNumber": "22621", "UBR": 1})


@pytest.mark.parametrize("bad", ["26100.7171", "twenty", "", True, 0, 123456])
def test_malformed_current_build_is_an_error(bad):
    values = {"CurrentBuild": bad, "UBR": 1, "InstallationType": "Client"}
    with pytest.raises(BuildError, match="CurrentBuild"):
        identify(values)


def test_missing_current_build_is_an_error():
    with pytest.raises(BuildError, match="CurrentBuild \\(or CurrentBuildNumber\\) is missing"):
        identify({"UBR": 7171, "InstallationType": "Client", "ProductName": "Windows 11 Pro"})


def test_not_a_mapping_is_an_error():
    with pytest.raises(BuildError, match="mapping"):
        identify("10.0.26100.7171")  # type: ignore[arg-type]


def test_key_names_are_case_insensitive_for_cmdb_exports():
    ident = identify({"currentbuild": "26100", "ubr": "7171", "installationtype": "Server Core"})
    assert ident.release_id == "windows_server_2025"


# --- releases -----------------------------------------------------------------------------------------------------

CASES = [
    # (CurrentBuild, InstallationType, EditionID, release_id, edition group)
    (14393, "Client", "EnterpriseS", "windows_10_1607", "ltsc"),
    (14393, "Client", "IoTEnterpriseS", "windows_10_1607", "iot_ltsc"),
    (14393, "Server", "ServerStandard", "windows_server_2016", "default"),
    (17763, "Client", "EnterpriseS", "windows_10_1809", "ltsc"),
    (17763, "Server Core", "ServerDatacenter", "windows_server_2019", "default"),
    (19044, "Client", "EnterpriseS", "windows_10_21h2", "ltsc"),
    (19044, "Client", "IoTEnterpriseS", "windows_10_21h2", "iot_ltsc"),
    (19045, "Client", "Professional", "windows_10_22h2", "default"),
    (19045, "Client", "Enterprise", "windows_10_22h2", "enterprise"),
    (19045, "Client", "IoTEnterprise", "windows_10_22h2", "enterprise"),
    (22000, "Client", "Professional", "windows_11_21h2", "default"),
    (22621, "Client", "Education", "windows_11_22h2", "enterprise"),
    (22631, "Client", "Enterprise", "windows_11_23h2", "enterprise"),
    (26100, "Client", "Professional", "windows_11_24h2", "default"),
    (26100, "Client", "EnterpriseS", "windows_11_24h2", "ltsc"),
    (26100, "Client", "IoTEnterpriseS", "windows_11_24h2", "iot_ltsc"),
    (26200, "Client", "Enterprise", "windows_11_25h2", "enterprise"),
    (28000, "Client", "Professional", "windows_11_26h1", "default"),
    (20348, "Server", "ServerDatacenterAzureEdition", "windows_server_2022", "default"),
    (20348, "Server Core", "ServerStandard", "windows_server_2022", "default"),
    (25398, "Server Core", "ServerDatacenterACor", "windows_server_23h2", "default"),
    (26100, "Server", "ServerDatacenter", "windows_server_2025", "default"),
    (26100, "Server Core", "ServerStandard", "windows_server_2025", "default"),
]


@pytest.mark.parametrize(("build", "itype", "edition", "release_id", "group"), CASES)
def test_every_release_is_identified(build, itype, edition, release_id, group):
    ident = identify(host(build, 1234, itype, edition))
    assert ident.release_id == release_id
    assert ident.name == RELEASES[release_id].name
    assert ident.edition_group == group
    assert ident.supported_release is True
    assert ident.build == (10, 0, build, 1234)
    assert ident.build_str == f"10.0.{build}.1234"
    assert ident.installation_type == itype


def test_every_known_release_is_covered_by_the_cases():
    assert {case[3] for case in CASES} == set(RELEASES)


def test_product_name_is_never_used():
    # Windows 11 reports "Windows 10 Pro" in ProductName; a lying ProductName must not change anything.
    values = host(22000, 194, "Client", "Professional")
    values["ProductName"] = "Windows 10 Pro"
    assert identify(values).release_id == "windows_11_21h2"
    values["ProductName"] = "Windows Server 2025 Datacenter"
    assert identify(values).release_id == "windows_11_21h2"


def test_server_2025_and_windows_11_24h2_differ_only_by_installation_type():
    client = identify(host(26100, 7623, "Client"))
    server = identify(host(26100, 7623, "Server"))
    assert (client.release_id, server.release_id) == ("windows_11_24h2", "windows_server_2025")


@pytest.mark.parametrize("build", [14393, 17763, 26100])
def test_shared_build_without_installation_type_is_an_error(build):
    with pytest.raises(BuildError, match="InstallationType is missing"):
        identify(host(build, 1, None))


@pytest.mark.parametrize(("build", "release_id"), [(22631, "windows_11_23h2"), (20348, "windows_server_2022")])
def test_unambiguous_build_without_installation_type_is_identified(build, release_id):
    assert identify(host(build, 1, None)).release_id == release_id


def test_unknown_installation_type_is_an_error():
    with pytest.raises(BuildError, match="InstallationType 'Workstation'"):
        identify(host(26100, 1, "Workstation"))


@pytest.mark.parametrize(
    ("build", "itype", "name"),
    [
        (18363, "Client", "Windows 10 1909"),
        (19042, "Client", "Windows 10 20H2"),
        (19043, "Client", "Windows 10 21H1"),
        (19042, "Server Core", "Windows Server, version 20H2"),
        (9600, "Server", "Windows Server 2012 R2"),
    ],
)
def test_retired_builds_are_named_but_unsupported(build, itype, name):
    ident = identify(host(build, 720, itype))
    assert (ident.release_id, ident.name, ident.supported_release) == (None, name, False)
    assert "retired" in (ident.note or "")


def test_pre_windows_10_builds_keep_their_version():
    assert identify(host(9600, 20000, "Server")).build_str == "6.3.9600.20000"


@pytest.mark.parametrize(
    ("build", "itype", "name"),
    [(26300, "Client", "Windows 11 (unknown build 26300)"), (12345, "Server", "Unknown Windows build 12345")],
)
def test_unknown_builds_are_unknown(build, itype, name):
    ident = identify(host(build, 1, itype))
    assert (ident.release_id, ident.name, ident.supported_release) == (None, name, False)
    assert str(build) in (ident.note or "")


def test_client_build_with_server_installation_type_is_unknown():
    ident = identify(host(22631, 1, "Server"))
    assert ident.release_id is None
    assert "matches no known release" in (ident.note or "")


# --- the real host samples ------------------------------------------------------------------------------------------


def _registry_dump(text: str) -> dict[str, str]:
    """Parse ``Name : Value`` lines of a Get-ItemProperty dump."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+)\s*:\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def test_sample_win10_1909_full_registry_dump_is_retired():
    path = shared_data() / "host-samples" / "23-registry-currentversion-win10-1909-full-dump.txt"
    values = _registry_dump(path.read_text(encoding="utf-8"))
    assert values["CurrentBuild"] == "18363"  # the dump says so; BuildLab says 18362
    ident = identify(values)
    assert (ident.name, ident.build_str, ident.release_id) == ("Windows 10 1909", "10.0.18363.720", None)
    # EditionID decides the group, not CompositionEditionID
    assert ident.edition_group == "default"


def test_sample_win11_reporting_windows_10_pro_is_windows_11():
    path = shared_data() / "host-samples" / "16-registry-win11-rtm-productname-windows10-pro.txt"
    text = path.read_text(encoding="utf-8")
    product_name = re.search(r"ProductName` is \"([^\"]+)\"", text).group(1)
    build_number = re.search(r"CurrentBuildNumber` is `(\d+)`", text).group(1)
    version = re.search(r"\[Version (10\.0\.\d+\.\d+)\]", text).group(1)
    ubr = parse_build(version)[3]
    ident = identify({"ProductName": product_name, "CurrentBuildNumber": build_number, "UBR": ubr, "EditionID": "Pro"})
    assert product_name == "Windows 10 Pro"
    assert (ident.release_id, ident.name, ident.build_str) == ("windows_11_21h2", "Windows 11 21H2", version)


def test_sample_server_2022_core_is_told_by_installation_type():
    path = shared_data() / "host-samples" / "30-wmi-server2022-core-sku-and-installationtype.txt"
    version = re.search(r"Version\s*:\s*(10\.0\.\d+)", path.read_text(encoding="utf-8")).group(1)
    build = int(version.split(".")[2])
    ident = identify({"CurrentBuild": str(build), "UBR": 4294, "InstallationType": "Server Core"})
    assert (ident.release_id, ident.installation_type) == ("windows_server_2022", "Server Core")


# --- messages a playbook author reads, and inconsistent hosts ------------------------------------------------------


class _TaggedFloat(float):
    """Stands in for ansible-core's tagged float (a float subclass with an internal name)."""


@pytest.mark.parametrize("raw", [7171.5, _TaggedFloat(7171.5)])
def test_ubr_float_message_has_no_type_name(raw):
    with pytest.raises(BuildError) as err:
        identify(host(26100, raw))
    assert str(err.value) == "Failed to read UBR: UBR must be a whole number such as 7171, got 7171.5"


def test_text_value_message_has_no_type_name():
    with pytest.raises(BuildError) as err:
        identify({"CurrentBuild": "26100", "UBR": 1, "InstallationType": ["Client"]})
    assert str(err.value) == "Failed to read InstallationType: InstallationType must be text, got a list"


@pytest.mark.parametrize("itype", [None, "Client", "Server"])
def test_unknown_build_is_unknown_with_or_without_installation_type(itype):
    ident = identify(host(99999, 1, itype))
    assert (ident.release_id, ident.supported_release) == (None, False)
    assert ident.note == "build 99999 is an unknown build, not a Windows release hygiene.winpatch knows"


def test_retired_build_without_installation_type_is_named():
    ident = identify(host(18363, 720, None))
    assert (ident.release_id, ident.name) == (None, "Windows 10 1909")


@pytest.mark.parametrize(
    ("build", "itype", "said"),
    [
        (26100, "Client", "InstallationType is Client"),
        (26200, "Client", "InstallationType is Client"),
        (26200, None, "build 26200 is Windows 11 25H2, a client release"),
    ],
)
def test_client_with_server_2025_numbering_is_refused(build, itype, said):
    with pytest.raises(BuildError) as err:
        identify(host(build, 33438, itype))
    assert str(err.value) == (
        f"Failed to identify the release: UBR 33438 is Windows Server 2025 numbering (26100.30000 and up since "
        f"2026-01) but {said}"
    )


def test_server_2025_numbering_on_server_and_high_client_ubrs_below_the_rule_are_fine():
    assert identify(host(26100, 33438, "Server")).release_id == "windows_server_2025"
    assert identify(host(26100, 29999, "Client")).release_id == "windows_11_24h2"
    assert identify(host(20348, 33438, "Server")).release_id == "windows_server_2022"  # other streams: no rule


def test_release_id_needs_no_ubr():
    assert identify_release({"CurrentBuild": "26100", "InstallationType": "Server Core"}) == "windows_server_2025"
    assert identify_release({"CurrentBuild": "26100", "InstallationType": "Client", "UBR": ""}) == "windows_11_24h2"
    assert identify_release({"CurrentBuildNumber": 18363}) is None
    with pytest.raises(BuildError, match="InstallationType is missing and build 26100 is"):
        identify_release({"CurrentBuild": "26100"})
    with pytest.raises(BuildError, match="UBR 33438 is Windows Server 2025 numbering"):
        identify_release({"CurrentBuild": "26100", "InstallationType": "Client", "UBR": 33438})
    with pytest.raises(BuildError, match="UBR must be a whole number"):
        identify_release({"CurrentBuild": "26100", "InstallationType": "Client", "UBR": 1.5})


def test_build_of_needs_only_current_build_and_ubr():
    # the build_tuple filter: no release is identified, so a shared build without InstallationType is fine
    assert build_of({"CurrentBuild": "26100", "UBR": "0x1c03"}) == (10, 0, 26100, 7171)
    assert build_of({"CurrentBuild": "26100", "UBR": 33438, "InstallationType": "Client"}) == (10, 0, 26100, 33438)
    assert build_of({"CurrentBuild": "9600", "UBR": 20000}) == (6, 3, 9600, 20000)
    with pytest.raises(BuildError, match="UBR is missing"):
        build_of({"CurrentBuild": "26100"})
