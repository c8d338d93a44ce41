# SPDX-License-Identifier: GPL-3.0-or-later
"""The compliance inventory plugin, run by the real ``ansible-inventory`` against lab fleets."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.regen_golden import (
    AS_OF,
    GOLDEN,
    ansible_bin,
    ansible_env,
    inventory_list,
    normalise,
    write_config,
)
from tests.lab.host import CURRENT_VERSION_KEY

pytestmark = pytest.mark.lab

STATE_GROUPS = [
    "winpatch_current",
    "winpatch_grace",
    "winpatch_behind",
    "winpatch_pending_reboot",
    "winpatch_unsupported",
    "winpatch_unreachable",
    "winpatch_error",
]


def plain(value: Any) -> Any:
    """A --list value without ansible-core 2.19's marker for untrusted (unsafe) strings."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def members(listing: dict[str, Any], group: str) -> set[str]:
    return set(listing.get(group, {}).get("hosts", []))


def hostvars(listing: dict[str, Any], host: str) -> dict[str, Any]:
    return plain(listing["_meta"]["hostvars"][host])


def tiny_fleet(**hosts: dict[str, Any]) -> dict[str, Any]:
    """A fleet mapping: one Basic-auth site and the given hosts (name -> fields)."""
    return {
        "name": "tiny",
        "seed": 5,
        "sites": [{"name": "lab", "subnet": "127.10.2.0/24", "transport": "basic"}],
        "hosts": [{"name": name, "site": "lab", **fields} for name, fields in hosts.items()],
    }


def test_groups_and_vars_of_the_small_fleet(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet("small")
    listing, _stderr = inventory_list(write_config(tmp_path, lab.inventory, workers=8, timeout=20))
    hosts = set(listing["_meta"]["hostvars"])
    assert hosts == set(lab.hosts)

    # Every host is in exactly one state group, and in the release group of its release when it has one.
    for name in hosts:
        states = [g for g in STATE_GROUPS if name in members(listing, g)]
        assert len(states) == 1, (name, states)
        assert states[0] == f"winpatch_{hostvars(listing, name)['winpatch_state']}"
    assert "w11-current" in members(listing, "winpatch_release_windows_11_24h2")
    assert "srv2025-core-old" in members(listing, "winpatch_release_windows_server_2025")

    # The variables carry what the lab host really has.
    for name in ("w11-current", "srv2025-core-old", "w11-pending"):
        sim, got = lab.hosts[name], hostvars(listing, name)
        assert got["winpatch_build"] == sim.build
        assert got["winpatch_registry"]["UBR"] == sim.ubr
        assert got["winpatch_registry"]["InstallationType"] == sim.installation_type
        assert got["winpatch_computer_name"] == name.upper()[:15]
        assert got["winpatch_checked_at"].endswith("Z")
    assert hostvars(listing, "w11-pending")["winpatch_pending_reboot"]["any"] is True
    assert hostvars(listing, "w11-current")["winpatch_pending_reboot"]["any"] is False
    assert hostvars(listing, "srv2025-core-old")["winpatch_release"] == "Windows Server 2025"

    # States the fleet was built to show.
    assert "w11-pending" in members(listing, "winpatch_pending_reboot")
    assert "srv2025-core-old" in members(listing, "winpatch_behind")
    assert hostvars(listing, "srv2025-core-old")["winpatch_months_behind"] == 10
    assert "w10-1909-retired" in members(listing, "winpatch_unsupported")
    assert hostvars(listing, "w10-1909-retired")["winpatch_release_id"] is None

    # Hosts that are down or refuse every credential are unreachable, with the reason; the sweep went on.
    faulty = {name for name, h in lab.hosts.items() if h.faults.down or h.faults.auth_refused}
    assert "srv2019-down" in faulty
    assert members(listing, "winpatch_unreachable") == faulty
    for name in faulty:
        sim, reason = lab.hosts[name], hostvars(listing, name)["winpatch_reason"]
        if sim.faults.down:
            assert reason == f"connection refused by {sim.address}:5985."
        else:
            assert reason == (
                f"auth refused: http://{sim.address}:5985/wsman rejected the credentials of user 'winpatch' (HTTP 401)."
            )
        assert hostvars(listing, name)["winpatch_registry"] is None


def test_golden_small_inventory(lab_fleet: Callable[..., Any], lab_octet: int, tmp_path: pathlib.Path) -> None:
    lab = lab_fleet("small")
    listing, _stderr = inventory_list(write_config(tmp_path, lab.inventory, workers=8, timeout=20))
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = normalise(listing, lab_octet)
    # Compare per host first, for a readable failure; then the whole document.
    for host in sorted(expected["_meta"]["hostvars"]):
        assert got["_meta"]["hostvars"].get(host) == expected["_meta"]["hostvars"][host], host
    assert got == expected, "run python -m tests.integration.regen_golden if the change is intended"


def test_hosts_already_in_the_inventory(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_server_2025"}, b={"release": "windows_11_24h2"}))
    config = tmp_path / "after.winpatch.yml"
    config.write_text(json.dumps({"plugin": "hygiene.winpatch.compliance", "group": "lab", "as_of": AS_OF}))
    linux = tmp_path / "linux.ini"
    linux.write_text("[lab]\nlinux1 ansible_host=127.0.0.1 ansible_connection=ssh\n", encoding="utf-8")
    listing, _stderr = inventory_list(lab.inventory, linux, config)
    # The Windows hosts of the earlier sources are swept and keep their own groups and variables.
    assert members(listing, "lab") == {"a", "b", "linux1"}
    assert not any("linux1" in members(listing, group) for group in STATE_GROUPS)
    assert "winpatch_state" not in hostvars(listing, "linux1")
    assert hostvars(listing, "a")["winpatch_site"] == "lab"
    assert hostvars(listing, "a")["winpatch_build"] == lab.hosts["a"].build
    assert hostvars(listing, "a")["winpatch_release_id"] == "windows_server_2025"


@pytest.mark.parametrize("mode", ["hosts_file", "inventory"])
def test_group_vars_next_to_the_inventory_apply(
    lab_fleet: Callable[..., Any], tmp_path: pathlib.Path, mode: str
) -> None:
    # The password is only in group_vars/lab.yml: the host is read only if the plugin applies it.
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "".join(line for line in lab.inventory.read_text().splitlines(True) if "ansible_password" not in line)
    )
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "lab.yml").write_text("ansible_password: Lab-Passw0rd!\n")
    if mode == "hosts_file":
        listing, _stderr = inventory_list(write_config(tmp_path, pathlib.Path("hosts.yml")))
    else:
        config = tmp_path / "after.winpatch.yml"
        config.write_text(json.dumps({"plugin": "hygiene.winpatch.compliance", "group": "lab", "as_of": AS_OF}))
        listing, _stderr = inventory_list(inventory, config)
    assert hostvars(listing, "a")["winpatch_build"] == lab.hosts["a"].build, hostvars(listing, "a")["winpatch_reason"]


def test_hosts_listed_in_the_config(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}))
    address = lab.hosts["a"].address
    config = tmp_path / "listed.winpatch.yml"
    config.write_text(
        json.dumps(
            {
                "plugin": "hygiene.winpatch.compliance",
                "as_of": AS_OF,
                "connection": {
                    "ansible_user": "winpatch",
                    "ansible_password": "Lab-Passw0rd!",
                    "ansible_port": 5985,
                    "ansible_winrm_transport": "basic",
                },
                "hosts": [
                    {"name": "listed-a", "ansible_host": address},
                    {"name": "listed-b", "vars": {"ansible_host": address, "ansible_port": "not-a-port"}},
                ],
            }
        )
    )
    listing, _stderr = inventory_list(config)
    assert hostvars(listing, "listed-a")["winpatch_build"] == lab.hosts["a"].build
    # The connection defaults become host variables, so later plays connect the same way.
    assert hostvars(listing, "listed-a")["ansible_winrm_transport"] == "basic"
    assert "listed-b" in members(listing, "winpatch_error")
    assert hostvars(listing, "listed-b")["winpatch_reason"] == (
        "bad connection variables: ansible_port must be an integer, got 'not-a-port'."
    )


@pytest.mark.parametrize("transport", ["ntlm", "basic"])
def test_bad_password_is_unreachable(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path, transport: str) -> None:
    fleet = tiny_fleet(a={"release": "windows_11_24h2"})
    fleet["sites"][0]["transport"] = transport
    lab = lab_fleet(fleet)
    address = lab.hosts["a"].address
    base = {"ansible_host": address, "ansible_port": 5985, "ansible_winrm_transport": transport}
    config = tmp_path / "pw.winpatch.yml"
    config.write_text(
        json.dumps(
            {
                "plugin": "hygiene.winpatch.compliance",
                "as_of": AS_OF,
                "connection": {"ansible_user": "winpatch"},
                "hosts": [
                    {"name": "right", "ansible_password": "Lab-Passw0rd!", **base},
                    {"name": "wrong", "ansible_password": "Not-The-Password-1", **base},
                ],
            }
        )
    )
    listing, _stderr = inventory_list(config)
    assert hostvars(listing, "right")["winpatch_build"] == lab.hosts["a"].build
    assert members(listing, "winpatch_unreachable") == {"wrong"}
    assert hostvars(listing, "wrong")["winpatch_reason"] == (
        f"auth refused: http://{address}:5985/wsman rejected the credentials of user 'winpatch' (HTTP 401)."
    )


def test_faults_garbage_and_malformed_values(
    lab_fleet: Callable[..., Any], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = lab_fleet(
        tiny_fleet(
            ok={"release": "windows_11_24h2"},
            garbage={"release": "windows_11_24h2"},
            malformed={"release": "windows_11_24h2"},
            fault500={"release": "windows_11_24h2", "faults": {"http_500": True}},
            slow={"release": "windows_11_24h2", "faults": {"slow_seconds": 6}},
            dropped={"release": "windows_11_24h2", "faults": {"drop_during_command": True}},
        ),
        allow_errors=True,
    )
    # One host answers something that is not the script's JSON object (the lab prints the handler's value).
    from tests.lab import registry

    real = registry.find_handler("build_facts")
    assert real is not None

    def garbled(host: Any, params: dict[str, Any]) -> Any:
        return "<html>Service Unavailable</html>" if host.name == "garbage" else real(host, params)

    monkeypatch.setitem(registry._HANDLERS, "build_facts", garbled)
    # One host reports a UBR that is not a number.
    lab.hosts["malformed"].registry[CURRENT_VERSION_KEY] = {"UBR": "seven"}

    listing, _stderr = inventory_list(write_config(tmp_path, lab.inventory, timeout=3, attempts=1))
    reasons = {name: hostvars(listing, name)["winpatch_reason"] for name in lab.hosts}
    assert hostvars(listing, "ok")["winpatch_state"] not in ("error", "unreachable")
    assert "garbage" in members(listing, "winpatch_error")
    assert reasons["garbage"] == (
        "Failed to decode the script result on garbage: expected one JSON object, "
        "got stdout '\"<html>Service Unavailable</html>\"' (rc 0)."
    )
    assert "malformed" in members(listing, "winpatch_error")
    assert "UBR" in reasons["malformed"] and "seven" in reasons["malformed"]
    assert "fault500" in members(listing, "winpatch_error")
    assert reasons["fault500"].startswith("WinRM fault 0x")
    assert "slow" in members(listing, "winpatch_unreachable")
    assert reasons["slow"] == f"timed out: no answer from http://{lab.hosts['slow'].address}:5985/wsman within 3s."
    assert "dropped" in members(listing, "winpatch_unreachable")
    assert reasons["dropped"].startswith(f"connection to http://{lab.hosts['dropped'].address}:5985/wsman failed: ")


TEMPLATE = "{{ lookup('pipe', 'id') }}"


def unsafe_markers(value: Any, path: str = "") -> list[str]:
    """The paths of every ``{"__ansible_unsafe": ...}`` object in ``value``."""
    if isinstance(value, dict) and "__ansible_unsafe" in value:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in unsafe_markers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unsafe_markers(v, f"{path}[{i}]")]
    return []


def test_export_is_plain_and_template_values_stay_unsafe(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    """--list --export (what AWX imports) shows host-read values plain; a value that looks like a template stays
    marked unsafe there, and a play prints it verbatim instead of running it."""
    lab = lab_fleet(tiny_fleet(plainhost={"release": "windows_server_2025"}, trap={"release": "windows_11_24h2"}))
    lab.hosts["trap"].product_name = TEMPLATE
    lab.hosts["trap"].policy["TargetGroup"] = f"ring {TEMPLATE} %"
    config = write_config(tmp_path, lab.inventory, workers=2, timeout=20)

    listing, _stderr = inventory_list(config, extra=("--export",))
    markers = unsafe_markers(listing["_meta"]["hostvars"])
    assert sorted(markers) == [".trap.winpatch_policy.TargetGroup", ".trap.winpatch_registry.ProductName"]
    trap = listing["_meta"]["hostvars"]["trap"]
    assert trap["winpatch_registry"]["ProductName"] == {"__ansible_unsafe": TEMPLATE}
    assert isinstance(trap["winpatch_state"], str) and isinstance(trap["winpatch_reason"], str)
    assert listing["_meta"]["hostvars"]["plainhost"]["winpatch_policy"]["TargetGroup"] is None

    playbook = tmp_path / "show.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "show",
                            "ansible.builtin.debug": {
                                "msg": "PN=[{{ winpatch_registry.ProductName }}] TG=[{{ winpatch_policy.TargetGroup }}]"
                            },
                            "when": "winpatch_state in ['current', 'grace', 'behind', 'pending_reboot']",
                        }
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [ansible_bin("ansible-playbook"), "-i", str(config), str(playbook)],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"PN=[{TEMPLATE}] TG=[ring {TEMPLATE} %]" in proc.stdout
    assert "uid=" not in proc.stdout + proc.stderr
    assert "PN=[Windows Server 2025 Standard] TG=[]" in proc.stdout, proc.stdout  # the when on winpatch_state held


def test_cache_is_read_until_flushed(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}))
    cache_dir = tmp_path / "cache"
    config = write_config(
        tmp_path,
        lab.inventory,
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(cache_dir),
        cache_timeout=3600,
    )
    first, _stderr = inventory_list(config)
    before = lab.hosts["a"].ubr
    assert hostvars(first, "a")["winpatch_registry"]["UBR"] == before
    assert len(list(cache_dir.iterdir())) == 1
    cached = next(cache_dir.iterdir()).read_text(encoding="utf-8")
    assert "Lab-Passw0rd!" not in cached  # connection variables are not cached

    # The host changes; a cached run still shows the old build, a flushed one the new build.
    lab.control.patch("a", ubr=before + 1)
    second, _stderr = inventory_list(config)
    assert hostvars(second, "a")["winpatch_registry"]["UBR"] == before
    assert hostvars(second, "a")["winpatch_checked_at"] == hostvars(first, "a")["winpatch_checked_at"]
    third, _stderr = inventory_list(config, extra=("--flush-cache",))
    assert hostvars(third, "a")["winpatch_registry"]["UBR"] == before + 1

    # Another policy is a cache miss (the cached states were judged under the old one).
    lab.control.patch("a", ubr=before + 2)
    other_policy = write_config(
        tmp_path,
        lab.inventory,
        grace_days=3,
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(cache_dir),
        cache_timeout=3600,
    )
    fourth, _stderr = inventory_list(other_policy)
    assert hostvars(fourth, "a")["winpatch_registry"]["UBR"] == before + 2


def test_constructed_options(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_server_2025"}, b={"release": "windows_11_24h2"}))
    config = write_config(
        tmp_path,
        lab.inventory,
        compose={"winpatch_ok": "winpatch_state in ['current', 'grace']"},
        groups={"needs_work": "winpatch_state not in ['current', 'grace']", "servers": "'Server' in winpatch_release"},
        keyed_groups=[{"key": "winpatch_release_id", "prefix": "os"}],
        strict=True,
    )
    listing, _stderr = inventory_list(config)
    assert members(listing, "os_windows_server_2025") == {"a"}
    assert members(listing, "os_windows_11_24h2") == {"b"}
    assert members(listing, "servers") == {"a"}
    for name in ("a", "b"):
        state = hostvars(listing, name)["winpatch_state"]
        assert hostvars(listing, name)["winpatch_ok"] is (state in ("current", "grace"))
        assert (name in members(listing, "needs_work")) is (state not in ("current", "grace"))

    # strict: a key that does not exist fails the source; without strict it is skipped.
    strict = write_config(tmp_path, lab.inventory, keyed_groups=[{"key": "no_such_var", "prefix": "x"}], strict=True)
    proc = subprocess.run(
        [ansible_bin("ansible-inventory"), "-i", str(strict), "--list"],
        capture_output=True,
        text=True,
        env={**ansible_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
        check=False,
    )
    assert proc.returncode != 0
    assert "no_such_var" in proc.stderr
    lenient = write_config(tmp_path, lab.inventory, keyed_groups=[{"key": "no_such_var", "prefix": "x"}], strict=False)
    listing, _stderr = inventory_list(lenient)
    assert set(listing["_meta"]["hostvars"]) == {"a", "b"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"baseline": "2026-13"}, "Failed to read the policy options of "),
        ({"hosts": ["x"]}, "the options hosts and hosts_file are mutually exclusive"),
        ({"workers": 0}, "Failed to read {config}: option workers must be at least 1, got 0"),
        ({"timeout": -5}, "Failed to read {config}: option timeout must be at least 1, got -5"),
        ({"attempts": 0}, "Failed to read {config}: option attempts must be at least 1, got 0"),
        ({"progress_every": -1}, "Failed to read {config}: option progress_every must be at least 0, got -1"),
        ({"bogus_option": 1}, "Failed to read {config}: unknown option 'bogus_option'; see ansible-doc -t inventory"),
        ({"grace_day": 3}, "Failed to read {config}: unknown option 'grace_day' (did you mean 'grace_days'?)"),
        ({"Workers": 3, "timeuot": 9}, "unknown options 'Workers' (did you mean 'workers'?), 'timeuot' (did you mean"),
        # Ansible's own conversion of inventory options reads any other word as false: a bool option takes only
        # boolean spellings, as build_facts and the playbook do.
        ({"esu": "maybe"}, "Failed to read {config}: option esu must be a boolean (true or false), got 'maybe'"),
        ({"esu": "2"}, "Failed to read {config}: option esu must be a boolean (true or false), got '2'"),
        ({"strict": "sometimes"}, "Failed to read {config}: option strict must be a boolean (true or false), got"),
        ({"as_of": "2026-09-31"}, "policy option as_of='2026-09-31': not a valid date"),
        ({"as_of": [2026]}, "Failed to validate policy option as_of=[2026]: expected a date in YYYY-MM-DD form"),
    ],
)
def test_bad_options_fail_clearly(tmp_path: pathlib.Path, options: dict[str, Any], message: str) -> None:
    hosts = tmp_path / "hosts.ini"
    hosts.write_text("h1 ansible_host=127.0.0.1\n", encoding="utf-8")
    config = write_config(tmp_path, hosts, **options)
    message = message.format(config=config)
    proc = subprocess.run(
        [ansible_bin("ansible-inventory"), "-i", str(config), "--list"],
        capture_output=True,
        text=True,
        env={**ansible_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
        check=False,
    )
    assert proc.returncode != 0
    assert message in " ".join(proc.stderr.split())


def run_inventory(config: pathlib.Path, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """``ansible-inventory --list`` of ``config`` with unparsed sources failing: the process and its seconds."""
    start = time.monotonic()
    proc = subprocess.run(
        [ansible_bin("ansible-inventory"), "-i", str(config), "--list"],
        capture_output=True,
        text=True,
        env={**ansible_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
        timeout=timeout,
        check=False,
    )
    return proc, time.monotonic() - start


def test_unquoted_yaml_date_and_yaml_booleans(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    # as_of: 2026-09-20 unquoted is a YAML date, esu: yes a YAML boolean, strict: "on" a boolean word.
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}))
    config = tmp_path / "dated.winpatch.yml"
    config.write_text(
        "plugin: hygiene.winpatch.compliance\n"
        f"hosts_file: {lab.inventory}\n"
        "as_of: 2026-09-20\n"
        "baseline: latest\n"
        "esu: yes\n"
        "strict: 'on'\n",
        encoding="utf-8",
    )
    listing, _stderr = inventory_list(config)
    got = hostvars(listing, "a")
    assert got["winpatch_build"] == lab.hosts["a"].build, got["winpatch_reason"]
    assert got["winpatch_baseline_month"] == "2026-09"
    assert got["winpatch_assessed_policy"]["as_of"] == "2026-09-20"
    assert got["winpatch_assessed_policy"]["esu"] is True


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "as_of: 2099-01-01",
            "Failed to read the policy options of {config}: Failed to validate policy option as_of='2099-01-01': "
            "the date is in the future (today is ",
        ),
        (
            "as_of: 2014-12-31",
            "Failed to validate policy option as_of='2014-12-31': the date is before Windows 10 (2015-07)",
        ),
        ("as_of: 20260920", "Failed to validate policy option as_of=20260920: expected a date in YYYY-MM-DD form"),
        ("esu: maybe", "Failed to read {config}: option esu must be a boolean (true or false), got 'maybe'"),
        ("esu: 2", "Failed to read {config}: option esu must be a boolean (true or false), got 2"),
    ],
)
def test_bad_yaml_scalars_fail_clearly(tmp_path: pathlib.Path, line: str, message: str) -> None:
    (tmp_path / "hosts.ini").write_text("h1 ansible_host=127.0.0.1\n", encoding="utf-8")
    config = tmp_path / "sweep.winpatch.yml"
    config.write_text(f"plugin: hygiene.winpatch.compliance\nhosts_file: hosts.ini\n{line}\n", encoding="utf-8")
    proc, _seconds = run_inventory(config)
    assert proc.returncode != 0
    assert message.format(config=config) in " ".join(proc.stderr.split())


@pytest.mark.parametrize(
    ("hosts_file", "why"),
    [
        ("sweep.winpatch.yml", "it is this configuration file"),
        (".", "it is a directory holding {config}, a configuration of this plugin"),
        ("{tmp}", "it is a directory holding {config}, a configuration of this plugin"),
        ("fleet", "it is a directory holding {tmp}/fleet/site/other.winpatch.yaml, a configuration of this plugin"),
        ("fleet/site/other.winpatch.yaml", "it is a configuration of this plugin"),
    ],
)
def test_hosts_file_leading_back_to_the_plugin_fails_at_once(tmp_path: pathlib.Path, hosts_file: str, why: str) -> None:
    # Before the check these recursed until Python gave up (about 20 s, "maximum recursion depth exceeded").
    (tmp_path / "hosts.ini").write_text("h1 ansible_host=127.0.0.1\n", encoding="utf-8")
    site = tmp_path / "fleet" / "site"
    site.mkdir(parents=True)
    (site / "hosts.ini").write_text("h2 ansible_host=127.0.0.1\n", encoding="utf-8")
    other = {"plugin": "hygiene.winpatch.compliance", "hosts_file": "hosts.ini", "as_of": AS_OF}
    (site / "other.winpatch.yaml").write_text(json.dumps(other), encoding="utf-8")
    config = write_config(tmp_path, pathlib.Path(hosts_file.format(tmp=tmp_path)))
    source = os.path.normpath(tmp_path / hosts_file.format(tmp=tmp_path))
    proc, seconds = run_inventory(config)
    assert proc.returncode != 0
    expected = (
        f"Failed to read {config}: hosts_file {source} leads back to this plugin: "
        f"{why.format(config=config, tmp=tmp_path)}; point hosts_file at the inventory of the hosts to sweep"
    )
    assert expected in " ".join(proc.stderr.split()), proc.stderr[-2000:]
    assert "recursion" not in proc.stderr
    assert seconds < 15


def test_hosts_file_directory_without_plugin_configs_is_read(tmp_path: pathlib.Path) -> None:
    # A directory of plain inventories (and group_vars/) is still a valid hosts_file; its hosts are swept.
    inventories = tmp_path / "inventories"
    (inventories / "group_vars").mkdir(parents=True)
    (inventories / "hosts.ini").write_text("h1 ansible_host=127.0.0.1 ansible_port=9\n", encoding="utf-8")
    (inventories / "group_vars" / "all.yml").write_text(
        "ansible_winrm_transport: basic\nansible_user: winpatch\nansible_password: x\n", encoding="utf-8"
    )
    config = write_config(tmp_path, pathlib.Path("inventories"), timeout=5, attempts=1)
    listing, _stderr = inventory_list(config)
    assert set(listing["_meta"]["hostvars"]) == {"h1"}
    assert hostvars(listing, "h1")["winpatch_reason"] == "connection refused by 127.0.0.1:9."


def test_progress_lines_go_to_stderr(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}, b={"release": "windows_11_24h2"}))
    listing, stderr = inventory_list(write_config(tmp_path, lab.inventory, progress_every=1))
    assert set(listing["_meta"]["hostvars"]) == {"a", "b"}  # stdout stayed pure JSON
    assert "winpatch sweep: 1/2 hosts read" in stderr and "winpatch sweep: 2/2 hosts read" in stderr
    # -v: one line per host (ansible itself prints its config line on stdout then, so read stderr only).
    proc = subprocess.run(
        [ansible_bin("ansible-inventory"), "-i", str(write_config(tmp_path, lab.inventory)), "--list", "-v"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    assert "winpatch sweep [1/2] " in proc.stderr and "winpatch sweep [2/2] " in proc.stderr
    assert sorted(re.findall(r"winpatch sweep \[\d/2\] (\w+): ok", proc.stderr)) == ["a", "b"]


def test_https_with_certificate_validation(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}), https=True)
    assert lab.ca_path is not None
    listing, _stderr = inventory_list(write_config(tmp_path, lab.inventory))
    got = hostvars(listing, "a")
    assert got["ansible_winrm_server_cert_validation"] == "validate"
    assert got["winpatch_build"] == lab.hosts["a"].build, got["winpatch_reason"]

    # The same host checked against another CA (the system's): the certificate is refused, precisely.
    other = tmp_path / "other"
    other.mkdir()
    address = lab.hosts["a"].address
    config = other / "tls.winpatch.yml"
    config.write_text(
        json.dumps(
            {
                "plugin": "hygiene.winpatch.compliance",
                "as_of": AS_OF,
                "hosts": [
                    {
                        "name": "a",
                        "ansible_host": address,
                        "ansible_port": 5986,
                        "ansible_user": "winpatch",
                        "ansible_password": "Lab-Passw0rd!",
                        "ansible_winrm_transport": "basic",
                    }
                ],
            }
        )
    )
    listing, _stderr = inventory_list(config)
    reason = hostvars(listing, "a")["winpatch_reason"]
    assert "a" in members(listing, "winpatch_unreachable")
    assert (
        reason
        == f"TLS validation failed for https://{address}:5986/wsman: self-signed certificate in certificate chain."
    )


def test_no_hosts_at_all_warns_once(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "empty.winpatch.yml"
    config.write_text(json.dumps({"plugin": "hygiene.winpatch.compliance", "as_of": AS_OF}), encoding="utf-8")
    listing, stderr = inventory_list(config)
    assert members(listing, "winpatch_current") == set() and not listing["_meta"]["hostvars"]
    text = " ".join(stderr.replace("[WARNING]:", " ").split())
    warning = (
        f"winpatch: {config} has no hosts to sweep (no hosts and no hosts_file option, and group 'all' of the "
        "inventory loaded so far has no host that connects over WinRM or PSRP); its groups stay empty"
    )
    assert text.count(warning) == 1, stderr


def test_psrp_hosts_and_a_port_that_does_not_speak_tls(lab_fleet: Callable[..., Any], tmp_path: pathlib.Path) -> None:
    lab = lab_fleet(tiny_fleet(a={"release": "windows_11_24h2"}))
    address = lab.hosts["a"].address
    login = {"ansible_host": address, "ansible_user": "winpatch", "ansible_password": "Lab-Passw0rd!"}
    psrp = {**login, "ansible_connection": "psrp", "ansible_psrp_auth": "basic"}
    config = tmp_path / "psrp.winpatch.yml"
    config.write_text(
        json.dumps(
            {
                "plugin": "hygiene.winpatch.compliance",
                "as_of": AS_OF,
                "hosts": [
                    # protocol http and no port: 5985, as the psrp connection does (not 5986); winrm vars ignored.
                    {"name": "psrp-http", **psrp, "ansible_psrp_protocol": "http", "ansible_winrm_scheme": "https"},
                    {"name": "psrp-port", **psrp, "ansible_psrp_port": 5985, "ansible_psrp_path": "wsman"},
                    # No protocol and no port: https on 5986, where the lab does not listen.
                    {"name": "psrp-default", **psrp},
                    {"name": "psrp-cert", **psrp, "ansible_psrp_protocol": "http", "ansible_psrp_auth": "certificate"},
                    {"name": "psrp-wrong-pw", **psrp, "ansible_psrp_protocol": "http", "ansible_password": "Nope-1"},
                    # HTTPS against the HTTP listener.
                    {
                        "name": "tls-on-http",
                        **login,
                        "ansible_port": 5985,
                        "ansible_winrm_scheme": "https",
                        "ansible_winrm_transport": "basic",
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    listing, _stderr = inventory_list(config)
    reasons = {name: hostvars(listing, name)["winpatch_reason"] for name in listing["_meta"]["hostvars"]}
    for name in ("psrp-http", "psrp-port"):
        assert hostvars(listing, name)["winpatch_build"] == lab.hosts["a"].build, reasons[name]
    assert members(listing, "winpatch_unreachable") == {"psrp-default", "psrp-wrong-pw", "tls-on-http"}
    assert reasons["psrp-default"] == f"connection refused by {address}:5986."
    assert reasons["psrp-wrong-pw"] == (
        f"auth refused: http://{address}:5985/wsman rejected the credentials of user 'winpatch' (HTTP 401)."
    )
    assert members(listing, "winpatch_error") == {"psrp-cert"}
    assert reasons["psrp-cert"] == (
        "bad connection variables: ansible_psrp_auth=certificate (client certificates) is not supported by the sweep."
    )
    assert reasons["tls-on-http"] == (
        f"TLS handshake failed with https://{address}:5985/wsman: port 5985 does not speak TLS (an HTTP listener?); "
        "check the host's scheme and port (WinRM listens for HTTP on 5985, HTTPS on 5986)."
    )


def test_docs_list_every_host_variable() -> None:
    """ansible-doc renders the plugin's docs, and they name every winpatch_* variable the plugin sets."""
    from ansible_collections.hygiene.winpatch.plugins.plugin_utils._facts import ASSESSMENT_KEYS, RAW_KEYS

    proc = subprocess.run(
        [ansible_bin("ansible-doc"), "-t", "inventory", "--json", "hygiene.winpatch.compliance"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    doc = json.loads(proc.stdout)["hygiene.winpatch.compliance"]["doc"]
    notes = " ".join(doc["notes"])
    for key in (*ASSESSMENT_KEYS, *RAW_KEYS, "checked_at", "assessed_policy"):
        assert f"C(winpatch_{key})" in notes, key
    assert "ansible_psrp_protocol" in notes and "ansible_psrp_auth=certificate" in notes
