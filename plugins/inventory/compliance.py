# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible plugins keep their documentation above the imports

from __future__ import annotations

DOCUMENTATION = r"""
name: compliance
short_description: Group Windows hosts by patch compliance, read from their OS build over WinRM
version_added: 0.1.0
author: hygiene.winpatch maintainers (!UNKNOWN)
description:
  - Reads each Windows host's build (C(CurrentBuild) and C(UBR)), pending-reboot signals, WSUS/WUfB policy values,
    hotpatch eligibility and last boot time with one PowerShell script over WinRM (pywinrm), and judges it against
    the collection's baseline catalog and the policy options below.
  - Puts every host in exactly one state group (C(winpatch_current), C(winpatch_grace), C(winpatch_behind),
    C(winpatch_pending_reboot), C(winpatch_unsupported), C(winpatch_unreachable), C(winpatch_error)) and in one
    C(winpatch_release_<release_id>) group, and sets the C(winpatch_*) host variables.
  - The hosts come from O(hosts), from the inventory file named by O(hosts_file), or, when neither is set, from the
    hosts already in the inventory; then list this source after the others, for example
    C(-i hosts.ini -i sweep.winpatch.yml).
  - Each host is reached with its usual connection variables (C(ansible_host), C(ansible_port), C(ansible_user),
    C(ansible_password), C(ansible_winrm_transport), C(ansible_winrm_scheme),
    C(ansible_winrm_server_cert_validation), C(ansible_winrm_ca_trust_path), C(ansible_winrm_read_timeout_sec),
    C(ansible_winrm_operation_timeout_sec), C(ansible_winrm_message_encryption)); O(connection) gives defaults.
  - A host with C(ansible_connection=psrp) is read on the same WinRM listener with its C(ansible_psrp_*) variables;
    see the notes for how they map to pywinrm.
  - A host that cannot be reached, refuses the credentials or answers something else than the script's result is
    put in C(winpatch_unreachable) or C(winpatch_error) with the reason in C(winpatch_reason); the sweep goes on.
  - The configuration file name must end in C(winpatch.yml) or C(winpatch.yaml). A key that is no option of this
    plugin (a typo such as C(grace_day)) fails the source, naming the key and the file; so does a boolean option
    (O(esu), O(strict), O(cache), O(use_extra_vars)) set to a word that is no boolean, such as C(maybe).
  - When there is no host to sweep (no O(hosts), no O(hosts_file) and no WinRM/PSRP host in O(group) of the inventory
    loaded so far), a warning names the configuration file and the groups stay empty.
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - hygiene.winpatch.policy
requirements:
  - pywinrm >= 0.5.0 (and requests-ntlm for NTLM) on the controller
options:
  plugin:
    description: The name of this plugin; it makes the file a configuration of this plugin.
    type: str
    required: true
    choices: [hygiene.winpatch.compliance]
  hosts:
    description:
      - The hosts to sweep. Each item is a host name, or a mapping with C(name) and the host's variables (directly,
        or under C(vars)).
      - Mutually exclusive with O(hosts_file).
    type: list
    elements: raw
  hosts_file:
    description:
      - An inventory file (any format Ansible reads, for example INI or YAML) whose hosts are swept; it is parsed
        with Ansible's own inventory manager, so its groups and group variables apply. Its groups are not copied.
      - A relative path is relative to the directory of this configuration file.
      - It may be a directory of inventory files, but it may not lead back to this plugin - be this configuration
        file or another C(*.winpatch.yml)/C(*.winpatch.yaml) file, or a directory holding one (as C(.) next to this
        file does) - which fails the source at once, naming the path.
    type: str
  group:
    description:
      - When the hosts come from the inventory already loaded, sweep only the hosts of this group.
      - Of those, hosts whose C(ansible_connection) is set to something else than C(winrm) or C(psrp) (for example
        C(ssh) or C(local)) are left alone.
      - Ignored with O(hosts) and O(hosts_file).
    type: str
    default: all
  connection:
    description:
      - Connection variables used for every host that does not set them itself, for example
        C(ansible_user), C(ansible_winrm_transport) or C(ansible_winrm_ca_trust_path).
      - They are also set as host variables on the hosts this plugin adds, so later plays connect the same way.
    type: dict
    default: {}
  workers:
    description: How many hosts are read at the same time; at least V(1).
    type: int
    default: 32
  timeout:
    description:
      - Seconds allowed for one host, connection and retry included; a host over it is unreachable.
      - At least V(1).
    type: int
    default: 60
  attempts:
    description:
      - Tries per host for transient failures (a dropped connection, HTTP 502/503/504), with backoff.
      - At least V(1).
    type: int
    default: 2
  progress_every:
    description:
      - Print a progress line on stderr every this many hosts (when the sweep has more hosts than this).
        V(0) turns it off. With C(-v) every host gets a line.
    type: int
    default: 500
notes:
  - 'The host variables set on every swept host (the same keys as the facts of M(hygiene.winpatch.build_facts)):
    C(winpatch_state) (V(current), V(grace), V(behind), V(pending_reboot), V(unsupported), V(unreachable) or V(error));
    C(winpatch_reason) (one sentence: why the host is in its state, or why it was not read);
    C(winpatch_release) (for example C(Windows 11 24H2)) and C(winpatch_release_id) (for example C(windows_11_24h2),
    null for an unknown build); C(winpatch_build) (C(10.0.<CurrentBuild>.<UBR>));
    C(winpatch_expected_build), C(winpatch_expected_kb) and C(winpatch_expected_prerequisites) (the baseline month''s
    update for the release and its checkpoint KBs); C(winpatch_months_behind) (int); C(winpatch_installed_month)
    (C(YYYY-MM)); C(winpatch_edition_group) (for example V(default), V(enterprise), V(ltsc));
    C(winpatch_baseline_month) (C(YYYY-MM)); C(winpatch_end_of_support) (ISO date for the edition group);
    C(winpatch_catalog_date) (ISO date), C(winpatch_catalog_stale) (bool) and C(winpatch_missing_months) (list of
    C(YYYY-MM)); C(winpatch_checked_at) (UTC ISO 8601, when the host was read); C(winpatch_assessed_policy) (the
    policy the host was judged with - C(baseline), C(grace_days), C(months_tolerated), C(hotpatch), C(esu), C(as_of),
    C(catalog_path) - which the C(hygiene.winpatch.assess) playbook records in the history).'
  - 'The raw values the script read, null when the host was not read: C(winpatch_computer_name);
    C(winpatch_registry) (C(CurrentBuild), C(CurrentBuildNumber), C(UBR), C(DisplayVersion), C(EditionID),
    C(InstallationType), C(ProductName), C(ReleaseId)); C(winpatch_pending_reboot) (C(any) and each signal:
    C(cbs_reboot_pending), C(wu_reboot_required), C(pending_file_rename), C(pending_computer_rename));
    C(winpatch_policy) (the WSUS/WUfB policy values, null when not set); C(winpatch_hotpatch) (C(enrolled), read as
    eligibility, C(eligible_edition), C(vbs_running)); C(winpatch_last_boot) (UTC ISO 8601).'
  - A host with C(ansible_connection=psrp) is read on the same WinRM listener with its C(ansible_psrp_*) variables
    (its C(ansible_winrm_*) ones are ignored, as the psrp connection ignores them), mapped to pywinrm as follows.
    C(ansible_psrp_protocol) and C(ansible_psrp_port) (or C(ansible_port)) as the psrp connection does it (https on
    5986 when neither is set, http on 5985 when only the protocol http is set, http only on port 5985 when only the
    port is set); C(ansible_psrp_host), C(ansible_psrp_user), C(ansible_psrp_path); C(ansible_psrp_auth) V(basic) and
    V(ntlm) as such, V(negotiate) (the default) as NTLM, V(kerberos) and V(credssp) only with the Python packages
    C(requests-kerberos) and C(requests-credssp) installed; C(ansible_psrp_cert_validation),
    C(ansible_psrp_ca_cert) (or C(ansible_psrp_cert_trust_path)), C(ansible_psrp_read_timeout),
    C(ansible_psrp_operation_timeout), C(ansible_psrp_message_encryption) and C(ansible_psrp_negotiate_send_cbt)
    as their C(ansible_winrm_*) counterparts.
  - A psrp host that needs what pywinrm cannot do here is put in C(winpatch_error) with the variable named in
    C(winpatch_reason) - C(ansible_psrp_auth=certificate) (client certificates), C(ansible_psrp_proxy), a
    C(ansible_psrp_configuration_name) other than C(Microsoft.PowerShell), V(kerberos) or V(credssp) without their
    package. Not used (no pywinrm equivalent, and not needed for one short command) -
    C(ansible_psrp_connection_timeout) (O(timeout) bounds each host), C(ansible_psrp_reconnection_*),
    C(ansible_psrp_max_envelope_size), C(ansible_psrp_negotiate_delegate), C(ansible_psrp_negotiate_hostname_override),
    C(ansible_psrp_negotiate_service), C(ansible_psrp_credssp_*), C(ansible_psrp_ignore_proxy) (no proxy is ever used).
  - Values read from the hosts are never templated. Only the strings among them that could hold a template (that
    contain C({) or C(%)) are marked unsafe; the others are plain, so C(ansible-inventory --list --export) (what AWX
    imports) shows them as plain values, not as C(__ansible_unsafe) objects.
  - Pin O(as_of) for reproducible results; unset, it is today on the controller.
  - With the inventory cache on, a cached sweep is reused until it expires, as long as the hosts, the policy and the
    catalog are the same (with O(as_of) unset the policy changes at midnight); the connection variables are not cached.
  - The connection variables of a host are its inventory variables, including C(group_vars/) and C(host_vars/) next to
    the inventory source; those next to a playbook are not known when the inventory is built.
  - The hotpatch enrollment is read as eligibility (edition, build, virtualization-based security), since Windows
    keeps no documented local value for membership in a hotpatch policy.
seealso:
  - module: hygiene.winpatch.build_facts
"""

EXAMPLES = r"""
---
# sweep.winpatch.yml: the hosts of an existing inventory file, with group variables.
plugin: hygiene.winpatch.compliance
hosts_file: hosts.ini
workers: 64
baseline: latest
grace_days: 14

---
# fleet.winpatch.yml: hosts listed here, with connection defaults and constructed groups.
plugin: hygiene.winpatch.compliance
connection:
  ansible_user: winpatch
  ansible_winrm_transport: ntlm
  ansible_winrm_scheme: https
  ansible_winrm_ca_trust_path: /etc/pki/winrm-ca.pem
hosts:
  - name: web01
    ansible_host: 10.0.0.11
  - name: db01
    vars:
      ansible_host: 10.0.0.12
keyed_groups:
  - key: winpatch_release_id
    prefix: os
strict: true

---
# After other sources: ansible-inventory -i hosts.ini -i after.winpatch.yml --graph
plugin: hygiene.winpatch.compliance
group: windows
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/winpatch
cache_timeout: 3600
"""

import difflib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.helpers import get_group_vars
from ansible.inventory.manager import IGNORED as IGNORED_SOURCES
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.vars import combine_vars
from ansible.vars.plugins import get_vars_from_inventory_sources

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _sweep
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import load_catalog
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import WinpatchError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._facts import STATES, host_variables, unsafe_templates
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import Policy

display = Display()

POLICY_OPTIONS = ("baseline", "grace_days", "months_tolerated", "hotpatch", "esu", "as_of", "catalog_path")
# 2: the host variables carry winpatch_assessed_policy; an older cached sweep lacks it and is swept again.
CACHE_VERSION = 2
# The sweep's counts and their smallest valid value.
COUNT_MINIMUMS = {"workers": 1, "timeout": 1, "attempts": 1, "progress_every": 0}
# Hosts of an earlier inventory source are swept when they connect over WS-Management (or set no connection).
WINDOWS_CONNECTIONS = ("winrm", "ansible.builtin.winrm", "psrp", "ansible.builtin.psrp")
# What a configuration file of this plugin is named like.
CONFIG_SUFFIXES = ("winpatch.yml", "winpatch.yaml")


def _fingerprint(hosts: list[tuple[str, dict[str, Any], bool]], policy: Policy, catalog: Any) -> str:
    """What a cached sweep must match to be reused: the host names, the policy and the catalog's date."""
    basis = {
        "hosts": sorted(name for name, _vars, _added in hosts),
        "policy": policy.as_dict(),
        "catalog": [str(catalog.data_date), catalog.generated_at],
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _is_config_name(name: str) -> bool:
    """Whether a file name is one this plugin takes as its configuration (see ``verify_file``)."""
    return name.endswith(CONFIG_SUFFIXES)


def _plain(value: Any) -> Any:
    """A scalar from the configuration without ansible-core 2.19's tags, so an error shows it as written."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _leads_back(source: str, config: str) -> str | None:
    """Why reading ``source`` as an inventory would run this plugin again (None when it would not).

    ``source`` is the configuration itself, another configuration of this plugin, or a directory that holds one:
    Ansible reads a directory's entries as inventory sources (recursing, skipping what it always skips), so the
    plugin would be run again there, and with this configuration, again without end.
    """
    real_config = os.path.realpath(config)
    real_source = os.path.realpath(source)
    if not os.path.isdir(real_source):
        if real_source == real_config:
            return "it is this configuration file"
        if _is_config_name(os.path.basename(real_source)):
            return "it is a configuration of this plugin"
        return None
    found = []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not IGNORED_SOURCES.search(to_bytes(d)))
        found += [
            os.path.normpath(os.path.join(folder, name))
            for name in sorted(files)
            if _is_config_name(name) and not IGNORED_SOURCES.search(to_bytes(name))
        ]
    if not found:
        return None
    holding = config if real_config in map(os.path.realpath, found) else found[0]
    return f"it is a directory holding {holding}, a configuration of this plugin"


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "hygiene.winpatch.compliance"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and _is_config_name(path)

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)

        # Check the options, the policy and load the catalog first: a bad option fails before any host is contacted.
        self._check_options(path, config)
        policy = self._policy(path)
        try:
            catalog = load_catalog(policy.catalog_path)
        except WinpatchError as e:
            raise AnsibleParserError(f"Failed to load the baseline catalog for {path}: {e}") from e
        hosts = self._hosts(path)
        if not hosts:
            display.warning(f"winpatch: {path} has no hosts to sweep ({self._host_source()}); its groups stay empty")

        # Read the cache when allowed, sweep otherwise; only a fresh sweep is written back. A cached sweep of
        # other hosts, another policy or another catalog is a miss: it would leave hosts out or judge them wrongly.
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        fingerprint = _fingerprint(hosts, policy, catalog)
        results = None
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                update_cache = True
            else:
                fresh = isinstance(cached, Mapping) and cached.get("version") == CACHE_VERSION
                if fresh and cached.get("fingerprint") == fingerprint:
                    results = cached.get("hosts")
                if results is None:
                    update_cache = True
        if results is None:
            results = dict(self._sweep(hosts, catalog, policy))
        if update_cache:
            self._cache[cache_key] = {"version": CACHE_VERSION, "fingerprint": fingerprint, "hosts": results}

        self._populate(hosts, results)

    # --- options -------------------------------------------------------------------------------------------------

    def _check_options(self, path: str, config: Mapping[str, Any]) -> None:
        """Refuse keys that are no option (a typo would otherwise be ignored) and counts that cannot work."""
        unknown = sorted(str(key) for key in config if key not in self._options)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, list(self._options), n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise AnsibleParserError(
                f"Failed to read {path}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                f"see ansible-doc -t inventory {self.NAME}"
            )
        # Ansible converts inventory options to bool leniently (any other word is false, so esu: maybe would mean
        # false); build_facts and the playbook refuse such values, and so does the configuration file.
        for name, definition in self.option_definitions.items():
            if config.get(name) is not None and (definition or {}).get("type") == "bool":
                try:
                    boolean(config[name], strict=True)
                except TypeError:
                    raise AnsibleParserError(
                        f"Failed to read {path}: option {name} must be a boolean (true or false), "
                        f"got {_plain(config[name])!r}"
                    ) from None
        for name, minimum in COUNT_MINIMUMS.items():
            value = self.get_option(name)
            if value < minimum:
                raise AnsibleParserError(
                    f"Failed to read {path}: option {name} must be at least {minimum}, got {value}"
                )

    def _host_source(self) -> str:
        """Where the hosts came from, for the warning about a sweep with no hosts."""
        if self.get_option("hosts") is not None:
            return "option hosts is an empty list"
        return (
            f"no hosts and no hosts_file option, and group {self.get_option('group')!r} of the inventory loaded so far "
            "has no host that connects over WinRM or PSRP"
        )

    def _policy(self, path: str) -> Policy:
        options = {name: self.get_option(name) for name in POLICY_OPTIONS}
        try:
            return Policy.from_options(options)
        except WinpatchError as e:
            raise AnsibleParserError(f"Failed to read the policy options of {path}: {e}") from e

    def _hosts(self, path: str) -> list[tuple[str, dict[str, Any], bool]]:
        """(name, connection variables, added by us) for every host to sweep."""
        listed = self.get_option("hosts")
        hosts_file = self.get_option("hosts_file")
        if listed and hosts_file:
            raise AnsibleParserError(f"Failed to read {path}: the options hosts and hosts_file are mutually exclusive")
        if listed:
            return list(self._listed_hosts(path, listed))
        if hosts_file:
            return list(self._file_hosts(path, hosts_file))
        group = self.get_option("group")
        if group not in self.inventory.groups:
            raise AnsibleParserError(
                f"Failed to read {path}: option group={group!r} names no group of the inventory loaded so far; "
                "list this source after the inventory that defines it"
            )
        sources = [s for s in self.inventory.processed_sources if s != path]
        hosts, skipped = [], []
        for host in self.inventory.groups[group].get_hosts():
            variables = self._host_vars(host, sources)
            if str(variables.get("ansible_connection") or "winrm") in WINDOWS_CONNECTIONS:
                hosts.append((host.name, variables, False))
            else:
                skipped.append(host.name)
        if skipped:
            display.vv(f"winpatch sweep: skipping {len(skipped)} host(s) whose ansible_connection is not WinRM or PSRP")
        return hosts

    def _listed_hosts(self, path: str, listed: list[Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
        seen = set()
        for index, entry in enumerate(listed):
            if isinstance(entry, str):
                name, variables = entry, {}
            elif isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and entry["name"]:
                nested = entry.get("vars") or {}
                if not isinstance(nested, Mapping):
                    raise AnsibleParserError(f"Failed to read {path}: hosts[{index}].vars must be a mapping")
                variables = {k: v for k, v in entry.items() if k not in ("name", "vars")}
                variables.update(nested)
                name = entry["name"]
            else:
                raise AnsibleParserError(
                    f"Failed to read {path}: hosts[{index}] must be a host name or a mapping with a 'name', "
                    f"got {entry!r}"
                )
            if name in seen:
                raise AnsibleParserError(f"Failed to read {path}: host {name!r} is listed twice in hosts")
            seen.add(name)
            yield name, dict(variables), True

    def _file_hosts(self, path: str, hosts_file: str) -> Iterator[tuple[str, dict[str, Any], bool]]:
        from ansible.inventory.manager import InventoryManager

        source = os.path.expanduser(hosts_file)
        if not os.path.isabs(source):
            source = os.path.join(os.path.dirname(os.path.abspath(path)), source)
        if not os.path.exists(source):
            raise AnsibleParserError(f"Failed to read {path}: hosts_file {source} does not exist")
        loop = _leads_back(source, path)
        if loop:
            raise AnsibleParserError(
                f"Failed to read {path}: hosts_file {os.path.normpath(source)} leads back to this plugin: {loop}; "
                "point hosts_file at the inventory of the hosts to sweep"
            )
        try:
            manager = InventoryManager(loader=self.loader, sources=[source], parse=True)
        except AnsibleError as e:
            raise AnsibleParserError(f"Failed to parse hosts_file {source} named in {path}: {e}") from e
        if not manager.list_hosts():
            raise AnsibleParserError(f"Failed to read hosts_file {source} named in {path}: it has no hosts")
        for host in manager.get_hosts():
            yield host.name, self._host_vars(host, [source]), True

    def _host_vars(self, host: Any, sources: list[str]) -> dict[str, Any]:
        """A host's inventory variables as a play would see them: group vars (inventory, then vars plugins such as
        group_vars/ next to the inventory), then host vars (inventory, then host_vars/)."""
        groups = sorted(host.get_groups(), key=lambda g: (g.depth, g.priority, g.name))
        variables = get_group_vars(groups)
        variables = combine_vars(variables, get_vars_from_inventory_sources(self.loader, sources, groups, "task"))
        variables = combine_vars(variables, host.get_vars())
        return combine_vars(variables, get_vars_from_inventory_sources(self.loader, sources, [host], "task"))

    # --- the sweep -----------------------------------------------------------------------------------------------

    def _connection_vars(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The connection variables of a host, templated (they may use vault values or other variables)."""
        merged = combine_vars(self.get_option("connection") or {}, variables)
        wanted = {k: merged[k] for k in _sweep.CONNECTION_VARS if k in merged}
        templar = None
        for key, value in wanted.items():
            if isinstance(value, str) and "{{" in value:
                templar = templar or self.templar.copy_with_new_env(available_variables=merged)
                try:
                    wanted[key] = templar.template(value)
                except AnsibleError as e:
                    secret = key in ("ansible_password", "ansible_winrm_pass", "ansible_winrm_password")
                    raise ValueError(f"failed to template {key}: {'(hidden)' if secret else to_native(e)}") from None
            elif value is not None and not isinstance(value, bool | int | list):
                wanted[key] = str(value)  # vaulted and tagged strings become plain text for pywinrm
        return wanted

    def _sweep(self, hosts: list[tuple[str, dict[str, Any], bool]], catalog: Any, policy: Policy) -> Iterator[Any]:
        """(host name, winpatch_* variables) for every host, as the reads complete."""
        total = len(hosts)
        every = self.get_option("progress_every")

        # Hosts whose connection variables cannot even be templated are errors without a connection.
        readable = []
        for name, variables, _added in hosts:
            try:
                readable.append((name, self._connection_vars(variables)))
            except ValueError as e:
                reason = f"bad connection variables: {e}"
                yield name, host_variables(None, catalog, policy, failure_kind=_sweep.ERROR, failure_reason=reason)

        def progress(done: int, result: _sweep.HostResult) -> None:
            if display.verbosity >= 1:
                outcome = "ok" if result.kind == _sweep.OK else f"{result.kind}: {result.reason}"
                display.display(f"winpatch sweep [{done}/{total}] {result.name}: {outcome}", stderr=True)
            elif every and total > every and (done % every == 0 or done == total):
                display.display(f"winpatch sweep: {done}/{total} hosts read", stderr=True)

        try:
            for result in _sweep.sweep(
                readable,
                workers=self.get_option("workers"),
                timeout=self.get_option("timeout"),
                attempts=self.get_option("attempts"),
                progress=progress,
            ):
                yield (
                    result.name,
                    host_variables(
                        result.facts, catalog, policy, failure_kind=result.kind, failure_reason=result.reason
                    ),
                )
        except (WinpatchError, ValueError) as e:
            raise AnsibleParserError(f"Failed to sweep the hosts: {e}") from e

    # --- groups and variables ------------------------------------------------------------------------------------

    def _populate(self, hosts: list[tuple[str, dict[str, Any], bool]], results: Mapping[str, Any]) -> None:
        strict = self.get_option("strict")
        defaults = self.get_option("connection") or {}
        for state in STATES:
            self.inventory.add_group(f"winpatch_{state}")
        # Each host's result is dropped once set (the cache, if any, is written already): on large sweeps
        # this keeps one copy of the variables, the inventory's, instead of two.
        results = dict(results)
        for name, variables, added in hosts:
            facts = results.pop(name, None)
            if facts is None:  # cannot happen with a matching fingerprint; never invent a state
                display.warning(f"winpatch: no sweep result for host {name}; it is left out of the winpatch groups")
                continue
            if added:
                self.inventory.add_host(name)
                for key, value in combine_vars(defaults, variables).items():
                    self.inventory.set_variable(name, key, value)
            # Only host-read strings that could be templates are marked unsafe: plain values stay plain in
            # ansible-inventory --list --export (AWX), and none is ever templated.
            for key, value in facts.items():
                self.inventory.set_variable(name, key, unsafe_templates(value))
            self.inventory.add_child(f"winpatch_{facts['winpatch_state']}", name)
            if facts.get("winpatch_release_id"):
                group = self.inventory.add_group(f"winpatch_release_{facts['winpatch_release_id']}")
                self.inventory.add_child(group, name)

            # Constructed: compose, groups and keyed_groups see the host's variables, ours included.
            hostvars = combine_vars(self.inventory.get_host(name).get_vars(), facts)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
