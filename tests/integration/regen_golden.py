# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate ``tests/integration/golden/small_inventory.json``: ``ansible-inventory --list`` of the small fleet.

Run ``python -m tests.integration.regen_golden`` (with the usual PYTHONPATH); it starts the small lab fleet,
sweeps it with the compliance inventory plugin (``as_of`` pinned), normalises what changes from run to run and
writes the golden file. ``test_inventory_plugin.py::test_golden_small_inventory`` diffs a fresh run against it.

Normalised: the loopback second octet (each run takes a free one), the check and boot times, the paths of
temporary files. Everything else, every group and variable, is compared as is.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Any

from tests.lab.octets import claim_octet
from tests.tools.ansible_env import ansible_env as base_ansible_env

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "small_inventory.json"
AS_OF = "2026-09-20"
VOLATILE = {"winpatch_checked_at": "<checked_at>", "winpatch_last_boot": "<last_boot>"}


def ansible_env() -> dict[str, str]:
    """The environment of the ansible-* commands these tests run."""
    return base_ansible_env(
        ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_FORCE_COLOR="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="true"
    )


def ansible_bin(name: str) -> str:
    """An ansible-* command of the interpreter running us (the project venv)."""
    candidate = pathlib.Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def write_config(directory: pathlib.Path, hosts_file: pathlib.Path, **options: Any) -> pathlib.Path:
    """A ``*.winpatch.yml`` config for the plugin, sweeping ``hosts_file``."""
    config = {"plugin": "hygiene.winpatch.compliance", "hosts_file": str(hosts_file), "as_of": AS_OF, **options}
    path = directory / "sweep.winpatch.yml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def inventory_list(*sources: pathlib.Path, extra: tuple[str, ...] = (), timeout: float = 180) -> tuple[dict, str]:
    """``ansible-inventory --list`` of ``sources``: the parsed JSON and stderr."""
    command = [ansible_bin("ansible-inventory")]
    for source in sources:
        command += ["-i", str(source)]
    proc = subprocess.run(
        [*command, "--list", *extra], capture_output=True, text=True, env=ansible_env(), timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"ansible-inventory failed (rc {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout), proc.stderr


def normalise(listing: dict[str, Any], octet: int) -> dict[str, Any]:
    """``listing`` with the run-specific parts replaced by placeholders."""
    text = json.dumps(listing, sort_keys=True)
    text = re.sub(rf"\b127\.{octet}\.", "127.<octet>.", text)
    data = json.loads(text)
    for hostvars in data.get("_meta", {}).get("hostvars", {}).values():
        for key, placeholder in VOLATILE.items():
            if hostvars.get(key) is not None:
                hostvars[key] = placeholder
        for key in ("ansible_winrm_ca_trust_path",):
            if key in hostvars:
                hostvars[key] = "<ca_path>"
    return data


def generate() -> dict[str, Any]:
    """Start the small fleet, sweep it, and return the normalised listing."""
    with claim_octet() as octet:  # raises NoFreeOctet, a RuntimeError, when every octet is taken
        return _generate(octet)


def _generate(octet: int) -> dict[str, Any]:
    from tests.lab.cli import LabProcess
    from tests.lab.fleet import load_fleet

    with tempfile.TemporaryDirectory(prefix="winpatch-golden-") as tmp:
        work = pathlib.Path(tmp)
        fleet = load_fleet(REPO / "tests" / "lab" / "fleets" / "small.yml", second_octet=octet)
        process = LabProcess(fleet, tls_dir=work / "tls", log_path=work / "lab-log.jsonl").start()
        try:
            inventory = work / "inventory.yml"
            inventory.write_text(fleet.inventory_text("yaml"), encoding="utf-8")
            listing, _stderr = inventory_list(write_config(work, inventory, workers=8, timeout=20))
        finally:
            process.stop()
    return normalise(listing, octet)


def main() -> int:
    data = generate()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    hosts = len(data.get("_meta", {}).get("hostvars", {}))
    print(f"wrote {GOLDEN.relative_to(REPO)}: {hosts} hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
