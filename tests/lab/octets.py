# SPDX-License-Identifier: GPL-3.0-or-later
"""The loopback second octet a lab runs on, claimed so that parallel labs on one machine never share addresses.

A lab's sites live in ``127.<octet>.<site>.0/24``. :func:`claim_octet` picks a free octet between 200 and 249
and holds it with an exclusive ``fcntl`` lock on ``<tmp>/winpatch-lab-octets/<octet>.lock`` until the ``with``
block ends. The pytest fixture ``lab_octet``, the benchmarks and ``regen_golden`` all claim through here, so they
never collide with each other. Standard library only: the benchmarks import it before anything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import pathlib
import random
import tempfile
from collections.abc import Iterator

OCTETS = range(200, 250)
LOCK_DIR = pathlib.Path(tempfile.gettempdir()) / "winpatch-lab-octets"


class NoFreeOctet(RuntimeError):
    """Every octet in OCTETS is locked by another lab on this machine."""


@contextlib.contextmanager
def claim_octet() -> Iterator[int]:
    """Yield a second octet (200-249) that no other lab on this machine holds; hold it until the block ends.

    Raises :class:`NoFreeOctet` (naming the lock directory) on entry when every octet is taken.
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for octet in random.SystemRandom().sample(OCTETS, len(OCTETS)):
        with open(LOCK_DIR / f"{octet}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            try:
                yield octet
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return
    raise NoFreeOctet(f"no free lab octet in 127.{OCTETS.start}-{OCTETS.stop - 1}.x.x (all locked in {LOCK_DIR})")
