# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module is implemented by the action plugin of the same name; this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: catalog_update
short_description: Refresh the baseline catalog of Windows cumulative updates from MSRC CVRF documents
version_added: 0.1.0
description:
  - Adds the cumulative updates (KB, build, date, kind, checkpoint prerequisites) stated by Microsoft's MSRC CVRF
    security-update documents to the baseline catalog that compliance assessment compares host builds with.
  - O(mode=online) reads the MSRC CVRF API index (C(<api_url>/updates)) and downloads C(<api_url>/cvrf/<ID>) for
    every monthly document first released after the catalog's data date.
  - O(mode=offline) reads documents downloaded before, from O(src), in the XML or the JSON form the API serves.
  - Every document is validated before anything is written. A file that is not a CVRF document, a truncated
    document, a month in which a supported release has no security update, documents that skip a month after the
    catalog's data month (for example a catalog up to 2026-02 and only the 2026-05 document), or a result that is
    older or holds less than the current catalog fails the task and leaves O(dest) untouched.
  - The months added must follow the catalog's data month without a gap, because hosts would otherwise be judged
    against a baseline that lacks the skipped months' updates. The error names the missing months.
  - The new catalog replaces O(dest) atomically, and only when it adds updates. When O(dest) does not exist yet it
    is always written, with the current catalog when the documents add nothing, so that after a successful run
    O(dest) holds a valid catalog to give as C(catalog_path).
  - Runs once per task on the controller, whatever the number of hosts in the play.
author:
  - hygiene.winpatch maintainers (!UNKNOWN)
options:
  mode:
    description:
      - Where the documents come from.
      - V(online) downloads them from O(api_url); V(offline) reads them from O(src).
    type: str
    choices: [online, offline]
    default: online
  src:
    description:
      - A CVRF document (C(.xml) or C(.json)) or a directory of them. Required when O(mode=offline).
      - In a directory, every C(.xml) and C(.json) file is read, and each must be a CVRF document, with one
        exception. The MSRC update index (the API's C(/updates) answer, a C(value) list of C(ID), C(Alias),
        C(DocumentTitle), ..., C(CvrfUrl) entries, saved for example as C(updates-index_<timestamp>.json)) is
        skipped and listed in RV(skipped_files). Any other file that is not a CVRF document fails the task.
      - A O(src) that holds no CVRF document (only the update index) fails the task.
    type: path
  api_url:
    description:
      - Base URL of the MSRC CVRF API, used when O(mode=online).
    type: str
    default: https://api.msrc.microsoft.com/cvrf/v3.0
  document_format:
    description:
      - Which form of each document to request from the API (Accept header). Both carry the same data.
    type: str
    choices: [json, xml]
    default: json
  validate_certs:
    description:
      - Verify the API's TLS certificate. Only set V(false) for a test endpoint you control.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP response.
    type: int
    default: 60
  dest:
    description:
      - The catalog file to refresh. Defaults to the catalog shipped in the collection (C(data/catalog.json)).
      - When O(dest) does not exist yet, the shipped catalog is the starting point, and O(dest) is written (and
        the task reports a change) even when the documents add nothing. When it exists it must be a valid catalog.
      - The default is a file inside the installed collection. In an AWX or Ansible Automation Platform execution
        environment that file is read-only or lives in a container that is thrown away after the job, and a
        C(ansible-galaxy collection install --force) replaces it. Point O(dest) at a persistent path instead, and give
        the same path as C(catalog_path) to the other plugins (see the examples).
    type: path
  backup:
    description:
      - Keep a timestamped copy of O(dest) before replacing it.
    type: bool
    default: false
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
    details: In check mode the documents are read and validated, and nothing is written. The result (changed,
      RV(data_date), RV(months_added), ...) is the one a real run would give.
  diff_mode:
    support: full
    details: The diff shows the data date and each release's newest build before and after. A O(dest) that does
      not exist yet shows as empty before.
  platform:
    platforms: posix
    details: Runs on the controller only.
notes:
  - The month of a KB is never taken from a document's ID alone, because MSRC revises old documents to name new KBs.
    A KB the catalog already holds keeps its date. A new KB is dated by the document in which it fixes the most
    CVEs, and is dropped when that date is not newer than what its release already holds.
  - Releases that share a servicing stream (Windows 10 21H2/22H2, Windows 11 22H2/23H2, Windows 11 24H2/25H2,
    Windows 10 1607/Server 2016, Windows 10 1809/Server 2019) are filled from one another. Server 2025 is filled from
    Windows 11 24H2 only for updates before 2026-01, when it got its own UBR numbering.
  - The default O(dest) is inside the installed collection, which an execution environment does not keep; see O(dest).
  - Use C(-vv) to see the remediations that were dropped (malformed FixedBuild values) and C(-vvv) for every update
    added.
seealso:
  - name: MSRC CVRF API
    description: Microsoft's documentation and PowerShell module for the Security Update Guide (CVRF) API.
    link: https://github.com/microsoft/MSRC-Microsoft-Security-Updates-API
"""

EXAMPLES = r"""
- name: Refresh the shipped catalog from the MSRC API (only where the installed collection is writable and kept)
  hygiene.winpatch.catalog_update:
    mode: online

# In an execution environment (AWX, Automation Platform) keep the catalog on a persistent volume or a project path,
# and use the same path wherever a catalog is read.
- name: Refresh a catalog kept outside the collection
  hygiene.winpatch.catalog_update:
    dest: /var/lib/winpatch/catalog.json  # starts from the shipped catalog when it does not exist yet

- name: Judge hosts against that catalog
  ansible.builtin.set_fact:
    compliance: "{{ registry | hygiene.winpatch.assess(catalog_path='/var/lib/winpatch/catalog.json') }}"

- name: Read the build facts against that catalog
  hygiene.winpatch.build_facts:
    catalog_path: /var/lib/winpatch/catalog.json

# and in the inventory source (compliance.winpatch.yml):
#   plugin: hygiene.winpatch.compliance
#   catalog_path: /var/lib/winpatch/catalog.json

- name: Refresh a site catalog from documents downloaded on another machine
  hygiene.winpatch.catalog_update:
    mode: offline
    src: /srv/msrc/cvrf/  # the MSRC update index saved there too is skipped (see the result's skipped_files)
    dest: /etc/winpatch/catalog.json
    backup: true

- name: See what a refresh would change
  hygiene.winpatch.catalog_update:
    dest: /etc/winpatch/catalog.json
  check_mode: true
  diff: true
"""

RETURN = r"""
dest:
  description: The catalog file that was refreshed (or would be, in check mode).
  returned: always
  type: str
  sample: /etc/winpatch/catalog.json
data_date:
  description: The newest Patch Tuesday whose security updates the refreshed catalog holds.
  returned: always
  type: str
  sample: "2026-06-09"
previous_data_date:
  description: The data date of the catalog before the refresh.
  returned: always
  type: str
  sample: "2026-02-10"
months_added:
  description:
    - The months (C(YYYY-MM)) whose security updates were added. They always follow RV(previous_data_date)'s month
      without a gap.
  returned: always
  type: list
  elements: str
  sample: ["2026-03", "2026-04"]
releases_updated:
  description: The release ids that got at least one new update.
  returned: always
  type: list
  elements: str
  sample: [windows_11_24h2, windows_server_2025]
documents:
  description: The IDs of the CVRF documents read, in the order Microsoft released them (not alphabetical).
  returned: always
  type: list
  elements: str
  sample: ["2026-Mar", "2026-Apr"]
dropped:
  description: Remediations of tracked releases that were not used, each with its document, product, KB and reason.
  returned: always
  type: list
  elements: str
  sample: ["2026-Mar: Windows 11 Version 25H2 for ARM systems KB5084597: FixedBuild '10.0.26100.7982' has build major
    26100, not 26200 of windows_11_25h2"]
skipped_files:
  description:
    - The files of O(src) that were not read because they are the MSRC update index, not a CVRF document.
    - Empty with O(mode=online), which reads the index from the API itself.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
      returned: always
    reason:
      description: Why it was skipped.
      type: str
      returned: always
  sample:
    - path: /srv/msrc/cvrf/updates-index_20260706T222806Z.json
      reason: the MSRC update index (the API's /updates answer), not a CVRF document
backup_file:
  description: The copy of the previous catalog.
  returned: when O(backup=true) and the catalog was replaced
  type: str
  sample: /etc/winpatch/catalog.json.4242.2026-12-03@13:00:00~
"""
