# SPDX-License-Identifier: GPL-3.0-or-later
"""Loading our scripts, the command line that runs them, and decoding what they print."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _scripts
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import ScriptError

GOOD = {"computer_name": "WIN-0001", "registry": {"CurrentBuild": "26100", "UBR": 7171}}
CLIXML = (
    b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    b'<S S="Error">Access is denied._x000D__x000A_</S></Objs>'
)


def test_load_script_checks_its_header() -> None:
    text = _scripts.load_script("build_facts")
    assert text.startswith("# hygiene.winpatch script: build_facts v")
    assert _scripts.script_version("build_facts") >= 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_script", "Failed to load the script 'no_such_script' from "),
        ("../etc/passwd", "Failed to load the script '../etc/passwd': a script name is lower-case letters"),
    ],
)
def test_load_script_errors(name: str, message: str) -> None:
    with pytest.raises(ScriptError) as err:
        _scripts.load_script(name)
    assert str(err.value).startswith(message)


def test_command_line_decodes_to_the_compacted_script() -> None:
    command = _scripts.command_line("build_facts")
    prefix, _space, encoded = command.rpartition(" ")
    assert prefix == "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand"
    script = base64.b64decode(encoded).decode("utf-16-le")
    assert script.splitlines()[0] == _scripts.load_script("build_facts").splitlines()[0]
    # Comments and indentation are gone, the code is all there.
    assert "\n#" not in script
    assert "[Console]::In.ReadToEnd()" in script
    assert not any(line.startswith(" ") for line in script.splitlines())


def test_encode_params_is_json_bytes() -> None:
    assert json.loads(_scripts.encode_params({"b": 1, "a": "x'; Remove-Item C:\\"})) == {
        "a": "x'; Remove-Item C:\\",
        "b": 1,
    }
    assert _scripts.encode_params(None) == b"{}"


def test_encode_params_error() -> None:
    with pytest.raises(ScriptError, match=r"^Failed to encode the script parameters as JSON: "):
        _scripts.encode_params({"x": object()})


@pytest.mark.parametrize(
    "stdout",
    [
        json.dumps(GOOD).encode(),
        b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n",
        b"Loading personal profile...\r\n" + json.dumps(GOOD).encode() + b"\r\n",
        json.dumps(GOOD, indent=2).encode(),
        json.dumps(GOOD).encode() + b"\r\nWARNING: something trailing\r\n",
    ],
    ids=["plain", "bom", "banner", "pretty", "trailing"],
)
def test_decode_result_tolerates_stray_text(stdout: bytes) -> None:
    assert _scripts.decode_result(stdout, CLIXML, 0, host="win1") == GOOD


@pytest.mark.parametrize(
    ("stdout", "stderr", "message"),
    [
        (
            b"",
            CLIXML,
            "Failed to decode the script result on win1: expected one JSON object, got no output, "
            "stderr 'Access is denied.' (rc 1)",
        ),
        (
            b"<html>garbage</html>",
            b"",
            "Failed to decode the script result on win1: expected one JSON object, "
            "got stdout '<html>garbage</html>' (rc 1)",
        ),
        (
            b"[1, 2, 3]",
            b"",
            "Failed to decode the script result on win1: expected one JSON object, got stdout '[1, 2, 3]' (rc 1)",
        ),
        (
            b'{"truncated": ',
            b"",
            "Failed to decode the script result on win1: expected one JSON object, got stdout '{\"truncated\":' (rc 1)",
        ),
    ],
    ids=["empty", "html", "array", "truncated"],
)
def test_decode_result_garbage(stdout: bytes, stderr: bytes, message: str) -> None:
    with pytest.raises(ScriptError) as err:
        _scripts.decode_result(stdout, stderr, 1, host="win1")
    assert str(err.value) == message


def test_decode_result_long_garbage_is_cut() -> None:
    with pytest.raises(ScriptError) as err:
        _scripts.decode_result(b"x" * 5000, b"", 0, host="win1")
    assert len(str(err.value)) < 400
    assert "..." in str(err.value)


def test_decode_result_failure_document() -> None:
    stdout = b'{"failed": true, "msg": "Failed to read the build facts: Access denied", "code": -2147024891}'
    with pytest.raises(ScriptError) as err:
        _scripts.decode_result(stdout, b"", 1, host="win1")
    assert str(err.value) == (
        "Failed to run the script on win1: Failed to read the build facts: Access denied (0x80070005)"
    )
    assert err.value.result["code"] == -2147024891


def test_clean_stderr_plain_and_clixml() -> None:
    assert _scripts.clean_stderr(b"plain error\r\n") == "plain error"
    assert _scripts.clean_stderr(CLIXML) == "Access is denied."
