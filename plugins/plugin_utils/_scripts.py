# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""The scripts sent to Windows: loading, the command line that runs them, parameters and results.

Shared by the action plugins (which run the command over the task's own connection) and by the
inventory plugin (which runs it through pywinrm). The contract is in docs/developing.md:

- a script's text never changes per call; it is sent base64 (UTF-16LE) in ``-EncodedCommand``;
- its parameters are one JSON document on stdin;
- it prints exactly one JSON document on stdout, ``{"failed": true, "msg": ..., "code": ...}`` on failure.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import ScriptError

SCRIPT_DIR = Path(__file__).resolve().parent.parent / "powershell"
POWERSHELL_PREFIX = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand"
HEADER_RE = re.compile(r"^# hygiene\.winpatch script: (?P<name>[a-z0-9_]+) v(?P<version>\d+)\s*$")
_NAME_RE = re.compile(r"^[a-z0-9_]+$")
# Output longer than this is not worth quoting in an error message.
_QUOTE_LIMIT = 200
# WinRS runs a command through cmd.exe, whose command line holds at most 8191 characters.
MAX_COMMAND_LINE = 8191


@functools.lru_cache(maxsize=32)
def load_script(name: str) -> str:
    """The text of ``plugins/powershell/<name>.ps1``; its header line must name it."""
    if not _NAME_RE.match(name):
        raise ScriptError(f"Failed to load the script {name!r}: a script name is lower-case letters, digits and '_'")
    path = SCRIPT_DIR / f"{name}.ps1"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScriptError(f"Failed to load the script {name!r} from {path}: {e.strerror or e}") from e
    header = HEADER_RE.match(text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r"))
    if not header or header.group("name") != name:
        raise ScriptError(
            f"Failed to load the script {name!r}: its first line is not '# hygiene.winpatch script: {name} v<N>'"
        )
    return text


def script_version(name: str) -> int:
    """The version number in the script's header line."""
    header = HEADER_RE.match(load_script(name).split("\n", 1)[0].rstrip("\r"))
    return int(header.group("version")) if header else 0  # load_script has checked the header


def encode_script(script: str) -> str:
    """The base64 of the script's UTF-16LE text, as ``-EncodedCommand`` takes it."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def compact_script(script: str) -> str:
    """The script without comment lines (the header line stays), indentation and blank lines.

    Our scripts use no here-strings and no block comments, so this changes nothing PowerShell sees
    while it keeps the encoded command line short.
    """
    lines = script.lstrip("\ufeff").splitlines()
    kept = [line.strip() for line in lines[1:] if line.strip() and not line.lstrip().startswith("#")]
    return "\n".join([lines[0].rstrip(), *kept])


@functools.lru_cache(maxsize=32)
def command_line(name: str) -> str:
    """The full command line that runs script ``name``; it is the same for every host and call."""
    command = f"{POWERSHELL_PREFIX} {encode_script(compact_script(load_script(name)))}"
    if len(command) > MAX_COMMAND_LINE:
        raise ScriptError(
            f"Failed to build the command line of the script {name!r}: {len(command)} characters, "
            f"more than the {MAX_COMMAND_LINE} that cmd.exe accepts"
        )
    return command


def encode_params(params: dict[str, Any] | None = None) -> bytes:
    """The parameters as the single JSON document the script reads from stdin."""
    try:
        return json.dumps(params or {}, separators=(",", ":"), sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ScriptError(f"Failed to encode the script parameters as JSON: {e}") from e


_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _clixml_errors(data: str) -> str | None:
    """The text of the error records in a ``#< CLIXML`` block, or None when it does not parse.

    ansible-core has a decoder, but it is private and moved between 2.19 and 2.21; the format is small: an
    ``<Objs>`` document whose ``<S S="Error">`` strings escape control characters as ``_xHHHH_``.
    """
    head, _marker, body = data.partition("#< CLIXML")
    try:
        root = ET.fromstring(body.strip())  # noqa: S314 - expat resolves no external entities
    except ET.ParseError:
        return None
    texts = [el.text or "" for el in root.iter() if el.tag.endswith("}S") and el.get("S") == "Error"]
    decoded = _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), "".join(texts))
    return (head + decoded).strip()


def clean_stderr(stderr: bytes | str) -> str:
    """stderr as text, with PowerShell's CLIXML error records turned into their messages."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    if "#< CLIXML" in text:
        decoded = _clixml_errors(text)
        if decoded is not None:
            return decoded
    return text.strip()


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "...")


def decode_result(
    stdout: bytes | str, stderr: bytes | str = b"", rc: int | None = 0, *, host: str = ""
) -> dict[str, Any]:
    """The script's JSON result, from its raw stdout.

    Stray lines around the JSON document (a profile banner, a progress record) are tolerated; the
    document is the last line that parses as a JSON object. Raises ``ScriptError`` naming the host
    when there is no such line, or when the script reported ``failed``.
    """
    where = f" on {host}" if host else ""
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    text = text.lstrip("\ufeff")
    result = None
    for line in reversed(text.splitlines()):
        line = line.strip().lstrip("\ufeff")
        if not line.startswith("{"):
            continue
        try:
            candidate = json.loads(line)
        except ValueError:
            continue
        if isinstance(candidate, dict):
            result = candidate
            break
    if result is None:
        # A pretty-printed document spans several lines; accept it when it is all there is.
        try:
            candidate = json.loads(text)
        except ValueError:
            candidate = None
        if isinstance(candidate, dict):
            result = candidate
    if result is None:
        err = clean_stderr(stderr)
        detail = f"stdout {_quote(text)}" if text.strip() else "no output"
        if err:
            detail += f", stderr {_quote(err)}"
        raise ScriptError(
            f"Failed to decode the script result{where}: expected one JSON object, got {detail} (rc {rc})"
        )
    if result.get("failed"):
        code = result.get("code")
        suffix = f" (0x{code & 0xFFFFFFFF:08X})" if isinstance(code, int) else ""
        error = ScriptError(f"Failed to run the script{where}: {result.get('msg') or 'no message'}{suffix}")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result
