# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet of 1,000+ hosts starts on one machine, in one process, and its hosts answer real pywinrm clients."""

from __future__ import annotations

import random
import time

import pytest

from tests.lab.scriptclient import protocol_for, run_script

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SITES = 5
PER_SITE = 210


def big_fleet() -> dict:
    return {
        "name": "scale",
        "seed": 11,
        "sites": [{"name": f"s{n}", "subnet": f"127.10.{n}.0/24", "count": PER_SITE} for n in range(1, SITES + 1)],
        "releases": {"windows_11_24h2": 5, "windows_11_23h2": 2, "windows_server_2025": 2, "windows_server_2022": 2},
        "builds": {"latest": 80, "1": 15, "3": 5},
        "rings": {"pilot": "5%", "broad": "rest"},
        "defaults": {"transport": "basic"},
    }


@pytest.mark.parametrize("processes", [1, 2])
def test_a_fleet_of_1050_hosts_starts_and_answers(lab_fleet, processes):
    begin = time.monotonic()
    lab = lab_fleet(big_fleet(), processes=processes)
    elapsed = time.monotonic() - begin
    assert len(lab.hosts) == SITES * PER_SITE
    assert len(lab.control.hosts()) == SITES * PER_SITE
    assert elapsed < 60, f"starting 1,050 hosts took {elapsed:.1f} s"
    # a sample across every site, the first and last address included
    names = sorted(lab.hosts)
    sample = {names[0], names[-1], *random.Random(3).sample(names, 6)}
    for name in sorted(sample):
        rc, result, stderr = run_script(protocol_for(lab.host_vars(name)), "build_facts")
        assert rc == 0, f"{name}: {stderr}"
        host = lab.hosts[name]
        assert result["registry"]["UBR"] == host.ubr
        assert result["registry"]["CurrentBuild"] == str(host.current_build)
    print(f"1,050 hosts in {processes} process(es) listening after {elapsed:.2f} s; {len(sample)} hosts answered")
