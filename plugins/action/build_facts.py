# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Action plugin for hygiene.winpatch.build_facts: read the build over the task's connection and assess it."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _scripts, _sweep
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._catalog import load_catalog
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import ScriptError, WinpatchError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._facts import host_variables
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._policy import Policy

display = Display()

SCRIPT = "build_facts"
ARGUMENT_SPEC: dict[str, Any] = {
    "baseline": {"type": "str", "default": "latest"},
    "grace_days": {"type": "int", "default": 14},
    "months_tolerated": {"type": "int", "default": 0},
    "hotpatch": {"type": "str", "default": "accept", "choices": ["accept", "ignore"]},
    "esu": {"type": "bool", "default": False},
    "as_of": {"type": "str"},
    "catalog_path": {"type": "path"},
}


def _command_line(connection: Any) -> str:
    """The command line that runs the script, in the form the connection passes through unchanged.

    ansible-core 2.19's winrm connection re-wraps every command that does not start with its PowerShell
    shell's own prefix (``PowerShell -NoProfile ... -EncodedCommand``, case-sensitive); 2.20+ passes any
    command containing `` -EncodedCommand `` as is. Using the shell's prefix when it has one keeps the
    script a single ``-EncodedCommand`` on both, with the JSON parameters on its stdin.
    """
    command = _scripts.command_line(SCRIPT)
    encode = getattr(getattr(connection, "_shell", None), "_encode_script", None)
    if encode is None:
        return command
    try:
        prefix = encode("", as_list=False, strict_mode=False, preserve_rc=False)
    except Exception:  # a shell without the 2.19 signature; the contract's form works there
        return command
    if isinstance(prefix, str) and prefix.rstrip().endswith("-EncodedCommand"):
        return f"{prefix.rstrip()} {command.rpartition(' ')[2]}"
    return command


# The connections build_facts runs over: WinRM (and PSRP, on the same listener), to a Windows host.
WINDOWS_CONNECTIONS = ("winrm", "psrp")


def _connection_target(connection: Any, host: str) -> _sweep.Target | None:
    """Where the task's winrm or psrp connection was going, for a reason worded as the inventory plugin words it."""
    if connection.transport == "psrp":
        kwargs = getattr(connection, "_psrp_conn_kwargs", None) or {}
        address, port, user = (getattr(connection, f"_psrp_{k}", None) for k in ("host", "port", "user"))
        scheme = "https" if kwargs.get("ssl") else "http"
        path, read_timeout = str(kwargs.get("path") or "wsman"), kwargs.get("read_timeout") or 30
    else:
        address, port, user = (getattr(connection, f"_winrm_{k}", None) for k in ("host", "port", "user"))
        scheme, path = getattr(connection, "_winrm_scheme", None), str(getattr(connection, "_winrm_path", "/wsman"))
        read_timeout = (getattr(connection, "_winrm_kwargs", None) or {}).get("read_timeout_sec") or 30
    if not address or not port or not scheme:
        return None
    return _sweep.Target(
        name=host,
        host=str(address),
        port=int(port),
        scheme=str(scheme),
        transport="",
        user=str(user or ""),
        password="",
        read_timeout=int(read_timeout),
        path=path if path.startswith("/") else f"/{path}",
    )


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only: the script changes nothing
    _supports_async = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        host = (task_vars or {}).get("inventory_hostname", self._play_context.remote_addr)
        result["changed"] = False

        # Validate the policy and load the catalog on the controller before touching the host.
        try:
            policy = Policy.from_options({k: v for k, v in args.items() if v is not None})
            catalog = load_catalog(policy.catalog_path)
        except WinpatchError as e:
            result.update(failed=True, msg=str(e))
            return result

        # The script is PowerShell run by a WinRM shell: another connection would fail later, and obscurely.
        if self._connection.transport not in WINDOWS_CONNECTIONS:
            name = getattr(self._connection, "_load_name", None) or self._connection.transport
            result.update(
                failed=True,
                msg=f"Failed to read the build facts of {host}: build_facts needs a Windows host reached over "
                f"winrm or psrp, but its connection is {name}",
            )
            return result

        # Run the script over the task's own connection, parameters on stdin.
        try:
            command = _command_line(self._connection)
            display.vvv(f"build_facts: running {SCRIPT} v{_scripts.script_version(SCRIPT)}", host=host)
            res = self._low_level_execute_command(command, sudoable=False, in_data=_scripts.encode_params({}))
        except AnsibleConnectionFailure as e:
            # The same reason texts as the inventory plugin's sweep, when the connection's message is one it knows.
            target = _connection_target(self._connection, host)
            reason = _sweep.connection_failure_reason(target, to_text(e), target.read_timeout) if target else None
            result.update(
                unreachable=True, msg=f"Failed to connect to {host} to read the build facts: {reason or to_text(e)}"
            )
            return result
        except (AnsibleError, ScriptError) as e:
            result.update(failed=True, msg=f"Failed to run the build_facts script on {host}: {to_text(e)}")
            return result

        # Decode the single JSON result; a failure document or garbage fails the task with the cause.
        try:
            facts = _scripts.decode_result(res.get("stdout", ""), res.get("stderr", ""), res.get("rc"), host=host)
        except ScriptError as e:
            result.update(failed=True, msg=str(e), rc=res.get("rc"), stdout=res.get("stdout", "")[:2000])
            result["stderr"] = _scripts.clean_stderr(res.get("stderr", ""))[:2000]
            return result

        variables = host_variables(facts, catalog, policy)
        result["ansible_facts"] = wrap_var(variables)
        return result
