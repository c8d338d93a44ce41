# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module is implemented by the action plugin of the same name; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: history
short_description: Append the play hosts' patch compliance assessment to the history
version_added: 0.1.0
description:
  - Records one assessment run in the history database on the controller, with one row per host.
  - Each host's result is read from its C(winpatch_*) variables, as set by the
    P(hygiene.winpatch.compliance#inventory) inventory plugin, by the M(hygiene.winpatch.build_facts) action
    (from its facts), or by C(ansible.builtin.set_fact) (for example to mark an unreachable host).
  - A host of the play without C(winpatch_state) is recorded in state V(error), with a reason saying it was not
    assessed, so that no host disappears from the history.
  - The history is append-only. The run is written in one transaction, so a failure leaves the history as it was,
    and two runs at the same time are safe. See C(docs/history.md) for the schema.
  - Runs once per task on the controller, whatever the number of hosts in the play.
author:
  - hygiene.winpatch maintainers (!UNKNOWN)
options:
  path:
    description:
      - Path of the SQLite history file on the controller. It is created, with its directory, when missing.
      - A file that is not a hygiene.winpatch history (another SQLite database, or any other file) is refused and
        left untouched.
    type: path
    required: true
  hosts:
    description:
      - The hosts to record.
      - Defaults to every host of the play, including those that failed or were unreachable
        (C(ansible_play_hosts_all)).
    type: list
    elements: str
  label:
    description:
      - Free text stored with the run, for example the playbook name or the AWX job id.
    type: str
    default: ""
  policy:
    description:
      - The compliance policy for this assessment, stored with the run as JSON when no host of the run carries
        C(winpatch_assessed_policy) (for example when every host was unreachable).
      - Hosts judged by the P(hygiene.winpatch.compliance#inventory) inventory plugin or by
        M(hygiene.winpatch.build_facts) carry the policy they were judged with in C(winpatch_assessed_policy); that
        policy is stored instead, so the run shows what the hosts were really judged with. Hosts judged with
        different policies fail the task, naming the hosts and the differing values, and nothing is written.
      - It is validated with the rules of the collection's policy (the options of M(hygiene.winpatch.build_facts)
        C(baseline), C(grace_days), C(months_tolerated), C(hotpatch), C(esu), C(as_of), C(catalog_path)); a bad
        value or an unknown key fails the task, naming it, and nothing is written.
    type: dict
    default: {}
  catalog_date:
    description:
      - Date (V(YYYY-MM-DD)) of the baseline catalog used.
      - Defaults to the newest C(winpatch_catalog_date) among the hosts.
    type: str
  catalog_stale:
    description:
      - Whether the catalog was older than the policy allows.
      - Defaults to V(true) when any host's C(winpatch_catalog_stale) is true.
    type: bool
  started_at:
    description:
      - When the assessment started, as ISO 8601 UTC text.
      - Defaults to the earliest C(winpatch_checked_at) among the hosts, or now.
    type: str
  results_var:
    description:
      - Name of a variable registered on the hosts from a M(hygiene.winpatch.build_facts) task run with
        C(ignore_unreachable) and C(ignore_errors).
      - For each host on which that task ran, its result is what gets recorded, whatever older C(winpatch_*)
        variables the host has; the facts it returned, or V(unreachable) or V(error) with the task's message.
      - Hosts on which the task was skipped are read from their variables as usual.
    type: str
  extra_vars:
    description:
      - Names of further host variables to keep in each row's C(details), besides C(winpatch_missing_months),
        C(winpatch_baseline_month) and C(winpatch_end_of_support).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: full
    details: One run is appended for all the hosts; O(hosts) selects them.
  check_mode:
    support: full
    details: In check mode nothing is written; the counts of what would be appended are returned.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller only.
notes:
  - The compliance rate counts V(current) and V(grace) hosts as compliant, over all hosts of the run.
  - The task always reports C(changed) (a run is appended), also in check mode.
seealso:
  - module: hygiene.winpatch.report
  - module: hygiene.winpatch.build_facts
"""

EXAMPLES = r"""
- name: Append this assessment to the history
  hygiene.winpatch.history:
    path: /var/lib/winpatch/history.sqlite
    label: monthly assessment
    policy:
      baseline: latest
      grace_days: 14
  delegate_to: localhost
  run_once: true
  register: winpatch_run

- name: Record only the servers
  hygiene.winpatch.history:
    path: ~/.local/share/hygiene.winpatch/history.sqlite
    hosts: "{{ groups['servers'] }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
run_id:
  description: Id of the appended run; null in check mode.
  returned: always
  type: int
  sample: 12
started_at:
  description: Start time stored for the run (ISO 8601 UTC).
  returned: success, not in check mode
  type: str
  sample: "2026-12-01T08:00:00Z"
path:
  description: Path of the history file.
  returned: always
  type: str
  sample: /var/lib/winpatch/history.sqlite
hosts:
  description: Number of hosts recorded.
  returned: always
  type: int
  sample: 250
compliant:
  description: Number of hosts in state V(current) or V(grace).
  returned: always
  type: int
  sample: 231
compliance_rate:
  description: Compliant hosts over all hosts, in percent with one decimal; null for no host.
  returned: always
  type: float
  sample: 92.4
counts:
  description: Number of hosts per state; every state is present.
  returned: always
  type: dict
  sample:
    current: 220
    grace: 11
    behind: 9
    pending_reboot: 3
    unsupported: 2
    unreachable: 4
    error: 1
catalog_date:
  description: Date of the baseline catalog stored with the run.
  returned: always
  type: str
  sample: "2026-09-08"
catalog_stale:
  description: Whether the catalog was stale for this run.
  returned: always
  type: bool
  sample: false
policy:
  description: The policy stored with the run - the hosts' C(winpatch_assessed_policy), else O(policy).
  returned: always
  type: dict
  sample:
    baseline: latest
    grace_days: 5
    months_tolerated: 3
    hotpatch: accept
    esu: false
    as_of: "2026-08-28"
"""
