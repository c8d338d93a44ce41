# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Filters for playbook authors: ``assess``, ``build_tuple`` and ``release_id``.

The logic lives in ``plugin_utils`` (``_compliance``, ``_identify``); these functions only translate errors into
:class:`AnsibleFilterError`. The documentation is in the adjacent ``<filter>.yml`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._compliance import assess as _assess
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import BuildError, CatalogError, PolicyError
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._identify import build_of, identify_release, parse_build


def _kind(value: Any) -> str:
    """What a value is, in a playbook author's words (never an internal type name such as a tagged list)."""
    if isinstance(value, str):
        return f"the text {str(value)!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return "a value that is not a dict"


def assess(values: Any, **policy: Any) -> dict[str, Any]:
    """``{{ registry_values | hygiene.winpatch.assess(baseline='latest', grace_days=14) }}``."""
    if not isinstance(values, Mapping):
        raise AnsibleFilterError(
            f"Failed to assess compliance: the input must be a dict of registry values, got {_kind(values)}"
        )
    try:
        return _assess(values, **policy)
    except PolicyError as exc:
        raise AnsibleFilterError(f"hygiene.winpatch.assess: {exc}") from exc
    except CatalogError as exc:
        raise AnsibleFilterError(f"hygiene.winpatch.assess: {exc}") from exc


def build_tuple(value: Any) -> list[int]:
    """``'10.0.26100.7171' | hygiene.winpatch.build_tuple`` -> ``[10, 0, 26100, 7171]``; also takes registry values."""
    try:
        if isinstance(value, Mapping):
            return list(build_of(value))
        return list(parse_build(value))
    except BuildError as exc:
        raise AnsibleFilterError(f"hygiene.winpatch.build_tuple: {exc}") from exc


def release_id(values: Any) -> str | None:
    """The release id (``windows_11_24h2``) of a host's registry values, or ``None`` for retired/unknown builds."""
    try:
        return identify_release(values)
    except BuildError as exc:
        raise AnsibleFilterError(f"hygiene.winpatch.release_id: {exc}") from exc


class FilterModule:
    """Compliance filters of hygiene.winpatch."""

    def filters(self) -> dict[str, Any]:
        return {"assess": assess, "build_tuple": build_tuple, "release_id": release_id}
