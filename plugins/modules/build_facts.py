# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module is implemented by the action plugin of the same name; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: build_facts
short_description: Read a Windows host's OS build and judge its patch compliance
version_added: 0.1.0
description:
  - Runs one read-only PowerShell script over the task's own connection (C(ansible.builtin.winrm) or
    C(ansible.builtin.psrp)) that reads the OS build (C(CurrentBuild), C(UBR)), the pending-reboot signals, the
    WSUS/WUfB policy values, the hotpatch eligibility and the last boot time.
  - Judges the build on the controller against the collection's baseline catalog under the policy options, and
    returns the same C(winpatch_*) variables that the P(hygiene.winpatch.compliance#inventory) inventory plugin sets,
    as facts.
  - The script's text never changes; its parameters go as JSON on its standard input.
author:
  - hygiene.winpatch maintainers (!UNKNOWN)
extends_documentation_fragment:
  - hygiene.winpatch.policy
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.facts
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The script only reads, so check mode runs it and returns the same facts.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: windows
notes:
  - The hotpatch enrollment is read as eligibility (edition, build, virtualization-based security), since Windows
    keeps no documented local value for membership in a hotpatch policy.
  - A host that cannot be reached is reported as unreachable, with the same reason texts as the
    P(hygiene.winpatch.compliance#inventory) inventory plugin (for example C(connection refused by <host>:<port>), or
    that the port does not speak TLS when HTTPS is used against an HTTP listener); a script failure or an answer that
    is not the script's JSON result fails the task with the cause.
  - The host must be a Windows host reached over C(ansible.builtin.winrm) or C(ansible.builtin.psrp); with any other
    connection (for example C(local) or C(ssh)) the task fails, naming the host and its connection, before running
    anything.
seealso:
  - plugin: hygiene.winpatch.compliance
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Read the build and assess it against the latest Patch Tuesday
  hygiene.winpatch.build_facts:

- name: Assess against a fixed month, tolerating one month behind
  hygiene.winpatch.build_facts:
    baseline: "2026-08"
    months_tolerated: 1

- name: Show the hosts that are behind
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} needs {{ winpatch_expected_kb }} ({{ winpatch_reason }})"
  when: winpatch_state == 'behind'
"""

RETURN = r"""
ansible_facts:
  description: The assessment and the raw values read, as facts.
  returned: success
  type: complex
  contains:
    winpatch_state:
      description: One of V(current), V(grace), V(behind), V(pending_reboot), V(unsupported), V(error).
      returned: success
      type: str
      sample: current
    winpatch_release:
      description: The release name, from the build and installation type (never from C(ProductName)).
      returned: success
      type: str
      sample: Windows 11 24H2
    winpatch_release_id:
      description: The release id of the collection's release table, or null for an unknown build.
      returned: success
      type: str
      sample: windows_11_24h2
    winpatch_build:
      description: The OS build, C(10.0.<CurrentBuild>.<UBR>).
      returned: success
      type: str
      sample: 10.0.26100.7171
    winpatch_expected_build:
      description: The build of the baseline month's update for this release, when the catalog has it.
      returned: success
      type: str
      sample: 10.0.26100.7462
    winpatch_expected_kb:
      description: The KB of the baseline month's update for this release, when the catalog has it.
      returned: success
      type: str
      sample: KB5072033
    winpatch_expected_prerequisites:
      description: The checkpoint KBs the expected update needs first.
      returned: success
      type: list
      elements: str
    winpatch_months_behind:
      description: Months between the newest month the build has and the baseline month.
      returned: success
      type: int
      sample: 0
    winpatch_installed_month:
      description: The newest month (C(YYYY-MM)) whose update the build has.
      returned: success
      type: str
    winpatch_edition_group:
      description: The lifecycle edition group of the host (for example V(default), V(enterprise), V(ltsc)).
      returned: success
      type: str
    winpatch_reason:
      description: One sentence saying why the host is in its state.
      returned: success
      type: str
    winpatch_checked_at:
      description: When the host was read, UTC ISO 8601.
      returned: success
      type: str
      sample: "2026-12-03T13:00:00Z"
    winpatch_catalog_date:
      description: The newest Patch Tuesday the catalog holds.
      returned: success
      type: str
    winpatch_catalog_stale:
      description: Whether the catalog is older than the last Patch Tuesday as of the assessment date.
      returned: success
      type: bool
    winpatch_missing_months:
      description: The Patch Tuesday months the catalog lacks, when it is stale.
      returned: success
      type: list
      elements: str
    winpatch_baseline_month:
      description: The month the host was judged against.
      returned: success
      type: str
    winpatch_end_of_support:
      description: The end of support of the release for the host's edition group, ISO date.
      returned: success
      type: str
    winpatch_computer_name:
      description: The computer name the host reports.
      returned: success
      type: str
    winpatch_registry:
      description: The C(CurrentVersion) registry values read (C(CurrentBuild), C(UBR), C(DisplayVersion), ...).
      returned: success
      type: dict
    winpatch_pending_reboot:
      description: The pending-reboot signals and their C(any).
      returned: success
      type: dict
    winpatch_policy:
      description: The WSUS and WUfB policy registry values, null when not set.
      returned: success
      type: dict
    winpatch_hotpatch:
      description: Hotpatch C(enrolled) (read as eligibility), C(eligible_edition) and C(vbs_running).
      returned: success
      type: dict
    winpatch_last_boot:
      description: The last boot time, UTC ISO 8601.
      returned: success
      type: str
    winpatch_assessed_policy:
      description:
        - The policy the host was judged with (C(baseline), C(grace_days), C(months_tolerated), C(hotpatch), C(esu),
          C(as_of), C(catalog_path)); M(hygiene.winpatch.history) stores it with the run.
      returned: success
      type: dict
      sample:
        baseline: latest
        grace_days: 14
        months_tolerated: 0
        hotpatch: accept
        esu: false
        as_of: "2026-12-03"
        catalog_path: null
"""
