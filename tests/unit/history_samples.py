# SPDX-License-Identifier: GPL-3.0-or-later
"""A small synthetic history (four weekly runs, twelve hosts) shared by the report tests.

Every figure the tests assert is derived by hand in the comments below, not computed by the code
under test.
"""

from __future__ import annotations

from pathlib import Path

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._history import make_assessment, open_history

EVIL_HOST = "evil<b>\"&'host"
EVIL_REASON = "<script>alert('owned')</script> & more"

RUN_STARTS = ("2026-11-10T08:00:00Z", "2026-11-17T08:00:00Z", "2026-11-24T08:00:00Z", "2026-12-01T08:00:00Z")

W11 = ("Windows 11 24H2", "windows_11_24h2", "10.0.26100.", 6899)
S22 = ("Windows Server 2022", "windows_server_2022", "10.0.20348.", 4171)

STATE_CODES = {"C": "current", "G": "grace", "B": "behind", "P": "pending_reboot", "U": "unreachable", "E": "error"}

# host: (site, ring, release, state codes per run, months behind per run, UBR per run)
# Run 4 (the reported run): current x5, grace x1, behind x3, pending_reboot x1, unreachable x1, error x1.
#   compliant = 6 of 12 -> 50.0 %
# Runs 1..3 compliant counts: run1 3/12, run2 4/12, run3 5/12 (see the per-host rows).
HOSTS: dict[str, tuple[str, str, tuple[str, str, str, int], str, tuple[int, ...], tuple[int, ...]]] = {
    "paris-01": ("paris", "pilot", W11, "CCCC", (0, 0, 0, 0), (6899,) * 4),
    "paris-02": ("paris", "pilot", W11, "BCCC", (1, 0, 0, 0), (6584, 6899, 6899, 6899)),
    "paris-03": ("paris", "broad", W11, "BBCC", (2, 2, 0, 0), (6000, 6000, 6899, 6899)),
    "paris-04": ("paris", "broad", W11, "BBBB", (4, 4, 4, 5), (5000,) * 4),
    "paris-05": ("paris", "early", W11, "GGGG", (0, 0, 0, 0), (6584,) * 4),
    "lyon-01": ("lyon", "pilot", S22, "CCCC", (0, 0, 0, 0), (4171,) * 4),
    "lyon-02": ("lyon", "early", S22, "BBBB", (1, 1, 1, 2), (4052,) * 4),
    "lyon-03": ("lyon", "broad", S22, "BBBP", (1, 1, 1, 1), (4052,) * 4),
    "lyon-04": ("lyon", "broad", S22, "UBBC", (0, 3, 3, 0), (0, 3000, 3000, 4171)),
    "lyon-05": ("lyon", "early", S22, "BBBB", (3, 3, 3, 3), (3500,) * 4),
    "oslo-01": ("", "", S22, "EEEE", (0, 0, 0, 0), (0,) * 4),
    EVIL_HOST: ("oslo", "broad", S22, "UUUU", (0, 0, 0, 0), (0,) * 4),
}


def write_sample_history(path: Path, *, stale_last: bool = True) -> Path:
    """Write the four runs to ``path``; the last one used a stale catalog unless told otherwise."""
    with open_history(path) as history:
        for index, started in enumerate(RUN_STARTS):
            rows = []
            for host, (site, ring, release, states, months, builds) in HOSTS.items():
                name, release_id, prefix, expected_ubr = release
                state = STATE_CODES[states[index]]
                values = {
                    "winpatch_state": state,
                    "winpatch_site": site or None,
                    "winpatch_ring": ring or None,
                    "winpatch_checked_at": started,
                    "winpatch_catalog_date": "2026-09-08",
                }
                if state == "unreachable":
                    values["winpatch_reason"] = (
                        EVIL_REASON if host == EVIL_HOST else "connection refused on 127.0.9.4:5986"
                    )
                elif state == "error":
                    values["winpatch_reason"] = "registry value UBR is not a number: 'abc'"
                else:
                    values.update(
                        {
                            "winpatch_release": name,
                            "winpatch_release_id": release_id,
                            "winpatch_build": f"{prefix}{builds[index]}",
                            "winpatch_expected_build": f"{prefix}{expected_ubr}",
                            "winpatch_expected_kb": "KB5065426" if release == W11 else "KB5065432",
                            "winpatch_months_behind": months[index],
                            "winpatch_reason": f"{months[index]} months behind" if months[index] else "up to date",
                        }
                    )
                rows.append(make_assessment(host, values))
            last = index == len(RUN_STARTS) - 1
            history.append(
                rows,
                started_at=started,
                label=f"weekly-{index + 1}",
                policy={"baseline": "latest", "grace_days": 14},
                catalog_date="2026-09-08",
                catalog_stale=stale_last and last,
            )
    return path
