# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Exception hierarchy shared by every hygiene.winpatch plugin.

One base class, plus one subclass per decision a caller has to make.
"""

from __future__ import annotations


class WinpatchError(Exception):
    """Base class of every error raised by hygiene.winpatch controller code."""


class BuildError(WinpatchError):
    """A build number or registry value set could not be parsed."""


class CatalogError(WinpatchError):
    """The baseline catalog (or a document it is built from) is missing, corrupt, partial or older."""


class PolicyError(WinpatchError):
    """A compliance policy option has an invalid value."""


class ScriptError(WinpatchError):
    """A script sent to Windows failed or printed something that is not its JSON result."""


class HostUnreachableError(WinpatchError):
    """The host could not be reached or refused the credentials."""
