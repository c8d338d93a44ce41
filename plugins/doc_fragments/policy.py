# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The policy options, shared by the compliance inventory plugin and the build_facts module."""

    DOCUMENTATION = r"""
options:
  baseline:
    description: The month hosts must have, V(latest) (the last Patch Tuesday as of O(as_of)) or C(YYYY-MM).
    type: str
    default: latest
  grace_days:
    description:
      - Days after the baseline's release during which a host still missing it is V(grace) (C(winpatch_state);
        the inventory plugin's group C(winpatch_grace)).
    type: int
    default: 14
  months_tolerated:
    description:
      - How many months behind the baseline still count as V(grace) instead of V(behind) (C(winpatch_state); the
        inventory plugin's groups C(winpatch_grace) and C(winpatch_behind)).
    type: int
    default: 0
  hotpatch:
    description: V(accept) counts a month's hotpatch build as having that month; V(ignore) requires the LCU build.
    type: str
    choices: [accept, ignore]
    default: accept
  esu:
    description: Whether releases in paid Extended Security Updates (Windows 10 22H2) are assessed, not unsupported.
    type: bool
    default: false
  as_of:
    description:
      - The date of the assessment, a date or a C(YYYY-MM-DD) string; defaults to today on the controller.
      - 'Unquoted in YAML (C(as_of: 2026-09-20)) it is a date, quoted it is a string; both are accepted.'
      - It may not be in the future, nor before July 2015 (Windows 10).
    type: raw
  catalog_path:
    description: The baseline catalog (JSON) on the controller to use instead of the one shipped in the collection.
    type: path
"""
