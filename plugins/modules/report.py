# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module is implemented by the action plugin of the same name; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report
short_description: Render the patch compliance dashboard, CSV and JSON from the history
version_added: 0.1.0
description:
  - Reads the history written by M(hygiene.winpatch.history) on the controller and writes, into O(dest),
    C(report.html) (a self-contained dashboard), C(report.csv) (one line per host) and C(report.json) (every figure).
  - The dashboard shows the compliance rate overall and by ring, site and release, the build distribution,
    the laggards sorted by months behind, the unreachable hosts with their reasons, the trend of the rate per run,
    the observed time to compliance, the policy of the run (baseline, as_of, grace days, months tolerated,
    hotpatch, ESU), and the baseline catalog's date with a warning when the catalog is stale. That warning is
    given once and names, from the stale hosts' results only, the months after the catalog's date and, per
    release, the months the catalog lacks for that release; the reasons in the dashboard's tables then leave out
    the clause "the catalog is stale (data up to ...)", which C(report.csv) and C(report.json) keep.
  - A SQLite file that is not a hygiene.winpatch history, or a damaged one, fails the task with
    "Failed to open the history PATH" or "Failed to read the history PATH" and the cause; the file is not changed.
  - The dashboard needs nothing but a browser; it has no script and loads nothing, and every value that came from
    a host is escaped.
  - Files are replaced atomically and only when their content changes, so rendering the same history twice
    reports no change.
  - Runs once per task on the controller, whatever the number of hosts in the play.
author:
  - hygiene.winpatch maintainers (!UNKNOWN)
options:
  history_path:
    description:
      - Path of the history file on the controller. It must exist and hold at least one run.
    type: path
    required: true
  dest:
    description:
      - Directory to write the report files into; created when missing.
    type: path
    required: true
  formats:
    description:
      - Which files to write.
    type: list
    elements: str
    choices: [html, csv, json]
    default: [html, csv, json]
  run_id:
    description:
      - The run to report on. Defaults to the newest run.
    type: int
  trend_runs:
    description:
      - How many runs, up to the reported one, the trend and the time to compliance cover.
    type: int
    default: 52
  title:
    description:
      - Title of the dashboard.
    type: str
    default: Windows patch compliance
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
  check_mode:
    support: full
    details: In check mode nothing is written; C(changed) says whether a file would change.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller only.
notes:
  - Compliant means state V(current) or V(grace); the rate counts every host of the run, unreachable and error
    hosts included.
  - Time to compliance is measured from the first run that saw a host V(behind) or V(pending_reboot) to the first
    later run that saw it compliant. It is only as fine as the interval between runs.
  - CSV cells that a spreadsheet would evaluate as a formula (starting with C(=), C(+), C(-) or C(@)) get a leading
    apostrophe.
seealso:
  - module: hygiene.winpatch.history
"""

EXAMPLES = r"""
- name: Render the compliance report
  hygiene.winpatch.report:
    history_path: /var/lib/winpatch/history.sqlite
    dest: /var/www/winpatch
  delegate_to: localhost
  run_once: true
  register: winpatch_report

- name: Show the headline
  ansible.builtin.debug:
    msg: "{{ winpatch_report.compliance_rate }} % of {{ winpatch_report.hosts }} hosts compliant"

- name: Only the CSV of an older run
  hygiene.winpatch.report:
    history_path: /var/lib/winpatch/history.sqlite
    dest: /tmp/winpatch-run-7
    run_id: 7
    formats: [csv]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
paths:
  description: Path of each file rendered, by format.
  returned: always
  type: dict
  sample: {"html": "/var/www/winpatch/report.html", "csv": "/var/www/winpatch/report.csv",
           "json": "/var/www/winpatch/report.json"}
changed_formats:
  description: Formats whose file was (or in check mode would be) written because its content changed.
  returned: always
  type: list
  elements: str
  sample: [html, json]
run_id:
  description: Id of the run reported on.
  returned: always
  type: int
  sample: 12
hosts:
  description: Number of hosts in the reported run.
  returned: always
  type: int
  sample: 250
compliant:
  description: Number of hosts in state V(current) or V(grace).
  returned: always
  type: int
  sample: 231
compliance_rate:
  description: Compliant hosts over all hosts, in percent with one decimal; null when the run has no host.
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
  description: Date of the baseline catalog used by the reported run.
  returned: always
  type: str
  sample: "2026-09-08"
catalog_stale:
  description: Whether the catalog was stale for the reported run; the dashboard then shows a warning.
  returned: always
  type: bool
  sample: false
"""
