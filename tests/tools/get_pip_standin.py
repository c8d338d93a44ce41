# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads for its sanity venvs.

ansible-test fetches get-pip.py from a host outside the package registries, which these machines
cannot reach. It first looks in ~/.ansible/test/cache/get_pip_<version>.py, so `make sanity`
copies this file there. It bootstraps pip with the interpreter's own ensurepip, then lets that pip
install the exact pip version ansible-test asked for from PyPI, with the same arguments get-pip.py
would have received. Remove it once ansible-test can bootstrap from PyPI alone.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    # get-pip.py understands these two flags itself; pip does not.
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    # In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which would
    # hide the machine's pip configuration from the install below.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    sys.exit(main())
