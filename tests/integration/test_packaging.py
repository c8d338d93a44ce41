# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users receive it: built with ansible-galaxy, installed, and used from the install.

Builds the tarball from the working tree, checks what it carries (and that development leftovers such as the
virtualenvs `make test` creates are not in it), installs it into an empty collections path and assesses a host with
the installed copy, so the shipped catalog is found where the collection is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def galaxy(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-galaxy"), *map(str, args)], capture_output=True, text=True, check=True, env=env, timeout=300
    )


def test_built_collection_carries_the_collection_and_no_development_leftovers(tmp_path: Path) -> None:
    galaxy("collection", "build", "--output-path", tmp_path, REPO)
    (tarball,) = tmp_path.glob("hygiene-winpatch-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for required in (
        "MANIFEST.json",
        "data/catalog.json",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "bindep.txt",
        "plugins/powershell/build_facts.ps1",
        "plugins/inventory/compliance.py",
        "playbooks/assess.yml",
    ):
        assert required in names, required
    leftovers = sorted(
        n for n in names if n.split("/")[0].startswith((".venv", ".build", ".git")) or "__pycache__" in n
    )
    assert leftovers == []


def test_installed_collection_assesses_with_its_own_catalog(tmp_path: Path) -> None:
    galaxy("collection", "build", "--output-path", tmp_path / "dist", REPO)
    (tarball,) = (tmp_path / "dist").glob("hygiene-winpatch-*.tar.gz")
    installed = tmp_path / "collections"
    # --no-deps: ansible.windows comes from the package registries here, not from Galaxy.
    galaxy("collection", "install", "--no-deps", "--force", "-p", installed, tarball)
    assert (installed / "ansible_collections" / "hygiene" / "winpatch" / "data" / "catalog.json").is_file()

    play = tmp_path / "play.yml"
    play.write_text(
        textwrap.dedent(
            """\
            - hosts: localhost
              gather_facts: false
              tasks:
                - ansible.builtin.copy:
                    dest: "{{ out }}"
                    content: >-
                      {{ {'CurrentBuild': '26100', 'UBR': 7840, 'InstallationType': 'Client', 'EditionID': 'Enterprise'}
                         | hygiene.winpatch.assess(as_of='2026-02-20') | to_json }}
            """
        )
    )
    out = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"} | {
        "ANSIBLE_COLLECTIONS_PATH": str(installed),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
    }
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", play, "-e", f"out={out}",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["state"] == "current"
    assert result["release_id"] == "windows_11_24h2"
    assert result["build"] == "10.0.26100.7840"
