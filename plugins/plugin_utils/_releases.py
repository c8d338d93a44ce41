# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The Windows releases hygiene.winpatch knows, with their servicing streams and lifecycles.

This is static knowledge from Microsoft's lifecycle pages. The catalog converter copies it into
each catalog release entry, and release identification matches a host's build against it.

Lifecycle dates are the last day of support by edition group:
- ``default``: Home, Pro, Pro for Workstations, Pro Education, and every Server edition;
- ``enterprise``: Enterprise, Education, IoT Enterprise (general availability channel);
- ``ltsc``: Enterprise LTSB/LTSC and IoT Enterprise LTSC (EditionID ends in ``S`` or ``SN``);
- ``iot_ltsc``: IoT Enterprise LTSC, where it outlives the other LTSC editions.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReleaseInfo:
    release_id: str
    name: str
    family: str  # client | server
    build_major: int
    installation_types: tuple[str, ...]
    stream: str  # releases with the same stream share KBs and UBRs
    lifecycle: dict[str, str | None] = field(default_factory=dict)
    esu_end: str | None = None  # last day of commercial Extended Security Updates
    hotpatch: bool = False  # hotpatch releases exist for (some editions of) this release


_CLIENT = ("Client",)
_SERVER = ("Server", "Server Core")

RELEASES: dict[str, ReleaseInfo] = {
    r.release_id: r
    for r in (
        # Windows 10: only the LTSB/LTSC editions of 1607, 1809 and 21H2 are still serviced.
        ReleaseInfo(
            "windows_10_1607",
            "Windows 10 1607",
            "client",
            14393,
            _CLIENT,
            "14393",
            {"default": "2018-04-10", "enterprise": "2019-04-09", "ltsc": "2026-10-13", "iot_ltsc": "2026-10-13"},
        ),
        ReleaseInfo(
            "windows_10_1809",
            "Windows 10 1809",
            "client",
            17763,
            _CLIENT,
            "17763",
            {"default": "2020-11-10", "enterprise": "2021-05-11", "ltsc": "2029-01-09", "iot_ltsc": "2029-01-09"},
        ),
        ReleaseInfo(
            "windows_10_21h2",
            "Windows 10 21H2",
            "client",
            19044,
            _CLIENT,
            "19045",
            {"default": "2023-06-13", "enterprise": "2024-06-11", "ltsc": "2027-01-12", "iot_ltsc": "2032-01-13"},
        ),
        ReleaseInfo(
            "windows_10_22h2",
            "Windows 10 22H2",
            "client",
            19045,
            _CLIENT,
            "19045",
            {"default": "2025-10-14", "enterprise": "2025-10-14"},
            esu_end="2028-10-10",
        ),
        ReleaseInfo(
            "windows_11_21h2",
            "Windows 11 21H2",
            "client",
            22000,
            _CLIENT,
            "22000",
            {"default": "2023-10-10", "enterprise": "2024-10-08"},
        ),
        ReleaseInfo(
            "windows_11_22h2",
            "Windows 11 22H2",
            "client",
            22621,
            _CLIENT,
            "22631",
            {"default": "2024-10-08", "enterprise": "2025-10-14"},
        ),
        ReleaseInfo(
            "windows_11_23h2",
            "Windows 11 23H2",
            "client",
            22631,
            _CLIENT,
            "22631",
            {"default": "2025-11-11", "enterprise": "2026-11-10"},
        ),
        ReleaseInfo(
            "windows_11_24h2",
            "Windows 11 24H2",
            "client",
            26100,
            _CLIENT,
            "26100",
            {"default": "2026-10-13", "enterprise": "2027-10-12", "ltsc": "2029-10-09", "iot_ltsc": "2034-10-10"},
            hotpatch=True,
        ),
        ReleaseInfo(
            "windows_11_25h2",
            "Windows 11 25H2",
            "client",
            26200,
            _CLIENT,
            "26100",
            {"default": "2027-10-12", "enterprise": "2028-10-10"},
            hotpatch=True,
        ),
        # 26H1 ships only on new devices; Microsoft had not published its end date in the data we hold.
        ReleaseInfo("windows_11_26h1", "Windows 11 26H1", "client", 28000, _CLIENT, "28000", {"default": None}),
        ReleaseInfo(
            "windows_server_2016", "Windows Server 2016", "server", 14393, _SERVER, "14393", {"default": "2027-01-12"}
        ),
        ReleaseInfo(
            "windows_server_2019", "Windows Server 2019", "server", 17763, _SERVER, "17763", {"default": "2029-01-09"}
        ),
        ReleaseInfo(
            "windows_server_2022",
            "Windows Server 2022",
            "server",
            20348,
            _SERVER,
            "20348",
            {"default": "2031-10-14"},
            hotpatch=True,
        ),
        ReleaseInfo(
            "windows_server_23h2", "Windows Server 23H2", "server", 25398, _SERVER, "25398", {"default": "2025-10-24"}
        ),
        # Server 2025 shared the 26100 stream with Windows 11 24H2 until 2025-12; from 2026-01 it has its own UBRs.
        ReleaseInfo(
            "windows_server_2025",
            "Windows Server 2025",
            "server",
            26100,
            _SERVER,
            "server_2025",
            {"default": "2034-10-10"},
            hotpatch=True,
        ),
    )
}

# Releases that are recognised but long out of support: identified so the report can name them.
RETIRED_CLIENT_BUILDS: dict[int, str] = {
    10240: "Windows 10 1507",
    10586: "Windows 10 1511",
    15063: "Windows 10 1703",
    16299: "Windows 10 1709",
    17134: "Windows 10 1803",
    18362: "Windows 10 1903",
    18363: "Windows 10 1909",
    19041: "Windows 10 2004",
    19042: "Windows 10 20H2",
    19043: "Windows 10 21H1",
}
RETIRED_SERVER_BUILDS: dict[int, str] = {
    9600: "Windows Server 2012 R2",
    9200: "Windows Server 2012",
    7601: "Windows Server 2008 R2",
    18362: "Windows Server, version 1903",
    18363: "Windows Server, version 1909",
    19041: "Windows Server, version 2004",
    19042: "Windows Server, version 20H2",
}


def edition_group(edition_id: str | None) -> str:
    """The lifecycle group of an EditionID: ``ltsc``, ``iot_ltsc``, ``enterprise`` or ``default``."""
    edition = (edition_id or "").strip()
    if edition.startswith("IoTEnterpriseS"):
        return "iot_ltsc"
    if edition.startswith("EnterpriseS"):
        return "ltsc"
    if edition.startswith(("Enterprise", "Education", "IoTEnterprise")):
        return "enterprise"
    return "default"
