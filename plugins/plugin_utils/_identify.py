# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Name the Windows release and patch level of a host from the registry values it reports.

The values come from ``HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion``: ``CurrentBuild`` (or
``CurrentBuildNumber``), ``UBR``, ``InstallationType``, ``EditionID``, ``DisplayVersion`` and ``ProductName``.

Rules (see DESIGN.md section 2 and shared/notes/windows-facts.md):

- The release is decided from the build major and ``InstallationType``, never from ``ProductName``
  (Windows 11 reports "Windows 10 ..." there). Windows 11 is ``CurrentBuild >= 22000``.
- Windows Server 2025 and Windows 11 24H2 share build 26100; Windows 10 1607 / Server 2016 and
  Windows 10 1809 / Server 2019 share 14393 / 17763. ``InstallationType`` (``Client`` versus
  ``Server`` / ``Server Core``) decides; when it is missing for such a build the host cannot be identified.
- LTSB/LTSC and IoT editions are told apart by ``EditionID`` (:func:`_releases.edition_group`), which selects
  the lifecycle, not the release.
- Versions are tuples of integers, never strings or floats.
- Windows 11 24H2/25H2 (client) and Server 2025 have had separate UBR numberings since 2026-01; a client host
  reporting Server 2025's numbering (UBR >= ``SERVER_2025_OWN_UBR``) is refused as inconsistent.
- Error messages show values plainly, never Python or Ansible type names.

Accepted value shapes (registry exports differ):

- ``CurrentBuild`` / ``CurrentBuildNumber``: decimal ``str`` or ``int``; when both are given they must agree.
- ``UBR``: ``int``, a decimal ``str``, or a hexadecimal ``str`` with a ``0x`` prefix, which is how
  ``reg.exe query`` prints a REG_DWORD (``0x1c03`` is 7171). A bare string of hex digits without the prefix
  is read as decimal (``"7171"``), because that is what ``Get-ItemProperty`` exports contain.
- Key names are matched case-insensitively (CMDB exports often lower-case them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import BuildError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._releases import (
    RELEASES,
    RETIRED_CLIENT_BUILDS,
    RETIRED_SERVER_BUILDS,
    edition_group,
)

# Characters some exports leave around values (zero-width space, BOM, no-break space).
_INVISIBLE = "\u200b\u200c\u200d\ufeff\u00a0"
_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_UINT32_MAX = 0xFFFFFFFF

# Windows versions before Windows 10 (build major -> (major, minor)), for the retired releases we can name.
_LEGACY_VERSIONS: dict[int, tuple[int, int]] = {7601: (6, 1), 9200: (6, 2), 9600: (6, 3)}

_CLIENT = "Client"
_WINDOWS_11_FIRST_BUILD = 22000
_SERVER_TYPES = {"server": "Server", "server core": "Server Core", "nano server": "Nano Server"}

# Windows Server 2025 left the 26100 stream it shared with Windows 11 24H2/25H2 with the 2026-01 update: its UBRs
# jumped to 26100.32230 (KB5073379) while the clients went on from 7462 to 7623 (data/catalog.json). The clients add
# about 150-250 a month (9168 in 2026-08), so they would need at least seven years to reach 30000: a client 26100/26200
# host reporting a UBR of 30000 or more has Server 2025 numbering, which no client update produces. The rule is
# deliberately far below Server 2025's first own UBR and far above any client UBR, so it never needs updating.
SERVER_2025_OWN_UBR = 30000
_CLIENT_26100_STREAM = frozenset({"windows_11_24h2", "windows_11_25h2"})


@dataclass(frozen=True)
class Identity:
    """What a host is: its release (``release_id`` is ``None`` when we cannot judge it) and its build."""

    release_id: str | None
    name: str
    build: tuple[int, int, int, int]
    build_str: str
    edition_group: str
    installation_type: str | None
    supported_release: bool
    family: str | None = None  # client | server, when known
    edition_id: str | None = None
    note: str | None = None  # why the release is not one we can judge (retired, unknown, ambiguous)

    @property
    def ubr(self) -> int:
        return self.build[3]


def _shown(value: Any) -> str:
    """A value as an error message shows it: its plain value, never an internal type name (tagged or not)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple, set)):
        return "a list"
    return "a value that is neither text nor a number"


def _clean(value: str) -> str:
    return value.strip().strip(_INVISIBLE).strip()


def parse_build(value: str) -> tuple[int, int, int, int]:
    """Parse ``"10.0.26100.7171"`` into ``(10, 0, 26100, 7171)``.

    Exactly four dot-separated decimal parts; surrounding whitespace and zero-width characters are ignored.
    Raises :class:`BuildError` naming the value and what is wrong with it.
    """
    if not isinstance(value, str):
        raise BuildError(f"Failed to parse build {value!r}: expected a string such as '10.0.26100.7171'")
    text = _clean(value)
    parts = text.split(".")
    if len(parts) != 4:
        raise BuildError(
            f"Failed to parse build {value!r}: expected four dot-separated numbers such as '10.0.26100.7171', "
            f"got {len(parts)} part(s)"
        )
    numbers: list[int] = []
    for index, part in enumerate(parts):
        if not _DECIMAL.fullmatch(part):
            raise BuildError(f"Failed to parse build {value!r}: part {index + 1} ({part!r}) is not a decimal number")
        numbers.append(int(part))
    if numbers[0] == 0:
        raise BuildError(f"Failed to parse build {value!r}: major version 0 is not a Windows version")
    return (numbers[0], numbers[1], numbers[2], numbers[3])


def format_build(build: tuple[int, ...]) -> str:
    """``(10, 0, 26100, 7171)`` -> ``"10.0.26100.7171"``."""
    return ".".join(str(part) for part in build)


def _lookup(values: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """Find a key case-insensitively; returns (found, value)."""
    if name in values:
        return True, values[name]
    lowered = name.lower()
    for key, value in values.items():
        if isinstance(key, str) and key.lower() == lowered:
            return True, value
    return False, None


def _text(values: Mapping[str, Any], name: str) -> str | None:
    found, value = _lookup(values, name)
    if not found or value is None:
        return None
    if not isinstance(value, str):
        raise BuildError(f"Failed to read {name}: {name} must be text, got {_shown(value)}")
    text = _clean(value)
    return text or None


def _build_number(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise BuildError(f"Failed to read {name}: expected a build number such as '26100', got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(_clean(value)):
        number = int(_clean(value))
    else:
        raise BuildError(f"Failed to read {name}: expected a build number such as '26100', got {value!r}")
    if not 1 <= number <= 99999:
        raise BuildError(f"Failed to read {name}: {number} is not a Windows build number (expected 1..99999)")
    return number


def _current_build(values: Mapping[str, Any]) -> int:
    found_cb, current_build = _lookup(values, "CurrentBuild")
    found_cbn, current_build_number = _lookup(values, "CurrentBuildNumber")
    found_cb = found_cb and current_build not in (None, "")
    found_cbn = found_cbn and current_build_number not in (None, "")
    if not found_cb and not found_cbn:
        raise BuildError("Failed to identify the release: CurrentBuild (or CurrentBuildNumber) is missing")
    build = _build_number("CurrentBuild", current_build) if found_cb else None
    build_number = _build_number("CurrentBuildNumber", current_build_number) if found_cbn else None
    if build is not None and build_number is not None and build != build_number:
        raise BuildError(
            f"Failed to identify the release: CurrentBuild ({build}) and CurrentBuildNumber ({build_number}) disagree"
        )
    return build if build is not None else _build_number("CurrentBuildNumber", current_build_number)


def parse_ubr(value: Any) -> int:
    """Read a UBR as the host reports it: ``int``, decimal ``str`` or ``0x``-prefixed hex ``str`` (reg.exe)."""
    if value is None or (isinstance(value, str) and not _clean(value)):
        raise BuildError("Failed to read UBR: the value is missing")
    if isinstance(value, bool):
        raise BuildError(f"Failed to read UBR: UBR must be a whole number such as 7171, got {_shown(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = _clean(value)
        if _DECIMAL.fullmatch(text):
            number = int(text)
        elif _HEX.fullmatch(text):
            number = int(text, 16)
        else:
            raise BuildError(f"Failed to read UBR: {value!r} is not a decimal or 0x-prefixed hexadecimal integer")
    else:
        raise BuildError(f"Failed to read UBR: UBR must be a whole number such as 7171, got {_shown(value)}")
    if not 0 <= number <= _UINT32_MAX:
        raise BuildError(f"Failed to read UBR: {number} is outside the REG_DWORD range 0..4294967295")
    return number


def _version(values: Mapping[str, Any], major_build: int) -> tuple[int, int]:
    found_major, major = _lookup(values, "CurrentMajorVersionNumber")
    found_minor, minor = _lookup(values, "CurrentMinorVersionNumber")
    if (
        found_major
        and found_minor
        and isinstance(major, int)
        and isinstance(minor, int)
        and not isinstance(major, bool)
    ):
        return major, minor
    if major_build in _LEGACY_VERSIONS:
        return _LEGACY_VERSIONS[major_build]
    return 10, 0


def _installation_type(values: Mapping[str, Any]) -> str | None:
    text = _text(values, "InstallationType")
    if text is None:
        return None
    if text.lower() == "client":
        return _CLIENT
    if text.lower() in _SERVER_TYPES:
        return _SERVER_TYPES[text.lower()]
    raise BuildError(
        f"Failed to identify the release: InstallationType {text!r} is not one of 'Client', 'Server', 'Server Core'"
    )


@dataclass(frozen=True)
class _Release:
    release_id: str | None
    name: str
    family: str | None
    note: str | None


def _release(major_build: int, installation_type: str | None) -> _Release:
    """The release of a build major and InstallationType (``release_id`` None for retired and unknown builds)."""
    candidates = [r for r in RELEASES.values() if r.build_major == major_build]
    if installation_type is not None:
        matching = [r for r in candidates if installation_type in r.installation_types or _nano(installation_type, r)]
    elif len({r.family for r in candidates}) <= 1:
        matching = candidates
    else:
        families = " and ".join(sorted(r.name for r in candidates))
        raise BuildError(
            f"Failed to identify the release: InstallationType is missing and build {major_build} is {families}"
        )
    if len(matching) == 1:
        release = matching[0]
        return _Release(release.release_id, release.name, release.family, None)

    server = installation_type is not None and installation_type != _CLIENT
    family = None if installation_type is None else ("server" if server else "client")
    if installation_type is None:
        retired_name = RETIRED_CLIENT_BUILDS.get(major_build) or RETIRED_SERVER_BUILDS.get(major_build)
    else:
        retired_name = (RETIRED_SERVER_BUILDS if server else RETIRED_CLIENT_BUILDS).get(major_build)
    if retired_name:
        return _Release(None, retired_name, family, f"{retired_name} is retired and no longer receives updates")
    if candidates:
        names = ", ".join(r.name for r in candidates)
        note = f"build {major_build} with InstallationType {installation_type!r} matches no known release ({names})"
    else:
        note = f"build {major_build} is an unknown build, not a Windows release hygiene.winpatch knows"
    if family == "client" and major_build >= _WINDOWS_11_FIRST_BUILD:
        name = f"Windows 11 (unknown build {major_build})"
    else:
        name = f"Unknown Windows build {major_build}"
    return _Release(None, name, family, note)


def _check_stream(release: _Release, major_build: int, ubr: int, installation_type: str | None) -> None:
    """Refuse a UBR that belongs to no servicing stream of the release (see ``SERVER_2025_OWN_UBR``)."""
    if release.release_id in _CLIENT_26100_STREAM and ubr >= SERVER_2025_OWN_UBR:
        said = (
            f"InstallationType is {installation_type}"
            if installation_type is not None
            else f"build {major_build} is {release.name}, a client release"
        )
        raise BuildError(
            f"Failed to identify the release: UBR {ubr} is Windows Server 2025 numbering "
            f"(26100.{SERVER_2025_OWN_UBR} and up since 2026-01) but {said}"
        )


def build_of(values: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """The build of a host from ``CurrentBuild`` and ``UBR`` alone (no release is identified, nothing else checked)."""
    if not isinstance(values, Mapping):
        raise BuildError(f"Failed to read the build: expected a mapping of registry values, got {values!r}")
    major_build = _current_build(values)
    found, raw_ubr = _lookup(values, "UBR")
    if not found or raw_ubr is None or (isinstance(raw_ubr, str) and not _clean(raw_ubr)):
        raise BuildError(
            f"Failed to identify the patch level: UBR is missing (CurrentBuild {major_build} alone does not say "
            "which cumulative update is installed)"
        )
    major, minor = _version(values, major_build)
    return (major, minor, major_build, parse_ubr(raw_ubr))


def identify(values: Mapping[str, Any]) -> Identity:
    """Identify a host from its registry values; raises :class:`BuildError` for malformed or missing build values.

    A build we recognise as long retired gets its name with ``release_id=None``; an unknown build gets
    ``release_id=None`` and a ``note``. Neither raises: they are facts about the host, not bad input.
    A UBR that belongs to no servicing stream of the identified release raises (``SERVER_2025_OWN_UBR``).
    """
    if not isinstance(values, Mapping):
        raise BuildError(f"Failed to identify the release: expected a mapping of registry values, got {values!r}")
    build = build_of(values)
    major_build, ubr = build[2], build[3]
    installation_type = _installation_type(values)
    edition_id = _text(values, "EditionID")
    release = _release(major_build, installation_type)
    _check_stream(release, major_build, ubr, installation_type)
    return Identity(
        release_id=release.release_id,
        name=release.name,
        build=build,
        build_str=format_build(build),
        edition_group=edition_group(edition_id),
        installation_type=installation_type,
        supported_release=release.release_id is not None,
        family=release.family,
        edition_id=edition_id,
        note=release.note,
    )


def identify_release(values: Mapping[str, Any]) -> str | None:
    """The release id of a host from ``CurrentBuild`` and ``InstallationType`` alone (None: retired or unknown).

    ``UBR`` is not needed; when it is given it must be valid and is checked against the release's streams as in
    :func:`identify`.
    """
    if not isinstance(values, Mapping):
        raise BuildError(f"Failed to identify the release: expected a mapping of registry values, got {values!r}")
    major_build = _current_build(values)
    release = _release(major_build, _installation_type(values))
    found, raw_ubr = _lookup(values, "UBR")
    if found and raw_ubr is not None and not (isinstance(raw_ubr, str) and not _clean(raw_ubr)):
        _check_stream(release, major_build, parse_ubr(raw_ubr), _installation_type(values))
    return release.release_id


def _nano(installation_type: str, release: Any) -> bool:
    """Nano Server is a Server installation option of Server 2016 and later."""
    return installation_type == "Nano Server" and release.family == "server"
