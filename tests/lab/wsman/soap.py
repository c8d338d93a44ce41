# SPDX-License-Identifier: GPL-3.0-or-later
"""SOAP / WS-Management envelopes: parse requests with ElementTree, build replies and faults from templates.

Only the parts that pywinrm and Ansible's winrm connection send and read are modelled
(see ``/work/shared/notes/winrm-lab.md``). Replies mirror what Windows sends: the reply's
``a:Action`` is the request's plus ``Response``, ``a:RelatesTo`` echoes the request's MessageID,
GUIDs are upper case.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_WSMAN_MS = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
NS_WMI_ERROR = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"

ACTION_CREATE = f"{NS_TRANSFER}/Create"
ACTION_DELETE = f"{NS_TRANSFER}/Delete"
ACTION_COMMAND = f"{NS_SHELL}/Command"
ACTION_SEND = f"{NS_SHELL}/Send"
ACTION_RECEIVE = f"{NS_SHELL}/Receive"
ACTION_SIGNAL = f"{NS_SHELL}/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
RESOURCE_CMD = f"{NS_SHELL}/cmd"
ANONYMOUS = f"{NS_ADDRESSING}/role/anonymous"
STATE_DONE = f"{NS_SHELL}/CommandState/Done"
STATE_RUNNING = f"{NS_SHELL}/CommandState/Running"
SIGNAL_TERMINATE = f"{NS_SHELL}/signal/terminate"

# WSManFault codes (the f:WSManFault/@Code values Windows uses).
CODE_OPERATION_TIMEOUT = 2150858793  # 0x80338029, pywinrm turns it into WinRMOperationTimeoutError
CODE_SHELL_NOT_FOUND = 2150858843  # 0x8033805B, unknown or expired ShellId (e.g. after a reboot)
CODE_MAX_SHELLS = 2150859173  # 0x803381A5, MaxShellsPerUser quota
CODE_E_FAIL = 2147500037  # 0x80004005, unspecified error (the lab's injected HTTP 500 fault)
CODE_INVALID_PARAMETER = 87  # ERROR_INVALID_PARAMETER: malformed or unsupported requests

DEFAULT_OPERATION_TIMEOUT = 60.0
DEFAULT_MAX_ENVELOPE_SIZE = 153600

_DURATION_RE = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class SoapError(Exception):
    """The request is not a WS-Management envelope the lab understands (answered with a Sender fault)."""


def parse_duration(text: str | None, default: float = DEFAULT_OPERATION_TIMEOUT) -> float:
    """Seconds in an xs:duration such as ``PT20S``, ``PT20.000S`` or ``P0DT0H0M20S``; ``default`` when absent."""
    if not text:
        return default
    match = _DURATION_RE.match(text.strip())
    if not match or not any(match.groupdict().values()):
        raise SoapError(f"invalid xs:duration {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


@dataclass
class SoapRequest:
    """The parts of a WS-Management request the lab acts on."""

    action: str
    message_id: str
    resource_uri: str = ""
    shell_id: str | None = None
    operation_timeout: float = DEFAULT_OPERATION_TIMEOUT
    max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None

    def find(self, path: str) -> ET.Element | None:
        """Find ``path`` (with ``rsp:``/``w:`` prefixes) under the SOAP body."""
        return None if self.body is None else self.body.find(path, _PREFIXES)

    def findall(self, path: str) -> list[ET.Element]:
        return [] if self.body is None else self.body.findall(path, _PREFIXES)


_PREFIXES = {
    "s": NS_SOAP,
    "a": NS_ADDRESSING,
    "w": NS_WSMAN,
    "p": NS_WSMAN_MS,
    "x": NS_TRANSFER,
    "rsp": NS_SHELL,
}


def parse_request(data: bytes) -> SoapRequest:
    """Parse one SOAP envelope; raises SoapError naming what is missing or malformed."""
    try:
        # The lab only parses requests from its own test clients on loopback; expat does not
        # resolve external entities, so ElementTree is safe enough here.
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        raise SoapError(f"request body is not XML: {exc}") from None
    if root.tag != f"{{{NS_SOAP}}}Envelope":
        raise SoapError(f"request root element is {root.tag!r}, not a SOAP 1.2 Envelope")
    header = root.find("s:Header", _PREFIXES)
    body = root.find("s:Body", _PREFIXES)
    if header is None or body is None:
        raise SoapError("request envelope lacks s:Header or s:Body")
    action = (header.findtext("a:Action", "", _PREFIXES) or "").strip()
    message_id = (header.findtext("a:MessageID", "", _PREFIXES) or "").strip()
    if not action:
        raise SoapError("request header lacks a:Action")
    if not message_id:
        raise SoapError("request header lacks a:MessageID")
    request = SoapRequest(action=action, message_id=message_id)
    request.resource_uri = (header.findtext("w:ResourceURI", "", _PREFIXES) or "").strip()
    request.operation_timeout = parse_duration(header.findtext("w:OperationTimeout", None, _PREFIXES))
    size = header.findtext("w:MaxEnvelopeSize", None, _PREFIXES)
    if size:
        try:
            request.max_envelope_size = int(size.strip())
        except ValueError:
            raise SoapError(f"invalid w:MaxEnvelopeSize {size!r}") from None
    for selector in header.findall("w:SelectorSet/w:Selector", _PREFIXES):
        if selector.get("Name") == "ShellId" and selector.text:
            request.shell_id = selector.text.strip()
    for option in header.findall("w:OptionSet/w:Option", _PREFIXES):
        name = option.get("Name")
        if name:
            request.options[name] = (option.text or "").strip()
    request.body = body
    return request


def new_guid() -> str:
    """A GUID in upper case, as Windows returns them."""
    return str(uuid.uuid4()).upper()


_ENVELOPE = (
    '<s:Envelope xml:lang="en-US" xmlns:s="'
    + NS_SOAP
    + '" xmlns:a="'
    + NS_ADDRESSING
    + '" xmlns:x="'
    + NS_TRANSFER
    + '"'
    ' xmlns:w="' + NS_WSMAN + '" xmlns:rsp="' + NS_SHELL + '" xmlns:p="' + NS_WSMAN_MS + '">'
    "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{message_id}</a:MessageID>"
    "<a:To>" + ANONYMOUS + "</a:To><a:RelatesTo>{relates_to}</a:RelatesTo></s:Header>"
    "<s:Body>{body}</s:Body></s:Envelope>"
)


def envelope(action: str, relates_to: str, body: str = "") -> bytes:
    """A reply envelope; ``body`` is already-escaped XML text."""
    return _ENVELOPE.format(
        action=escape(action), message_id=new_guid(), relates_to=escape(relates_to), body=body
    ).encode("utf-8")


def create_response_body(shell_id: str, address: str, owner: str, client_ip: str, idle_timeout: float) -> str:
    """Body of the Create reply: x:ResourceCreated (what pywinrm reads) plus rsp:Shell (what Windows adds)."""
    sid = escape(shell_id)
    return (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{RESOURCE_CMD}</w:ResourceURI>"
        f'<w:SelectorSet><w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters></x:ResourceCreated>"
        f"<rsp:Shell><rsp:ShellId>{sid}</rsp:ShellId><rsp:ResourceUri>{RESOURCE_CMD}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(owner)}</rsp:Owner><rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>"
        f"<rsp:IdleTimeOut>PT{idle_timeout:.3f}S</rsp:IdleTimeOut>"
        "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        "</rsp:Shell>"
    )


def command_response_body(command_id: str) -> str:
    return f"<rsp:CommandResponse><rsp:CommandId>{escape(command_id)}</rsp:CommandId></rsp:CommandResponse>"


def receive_response_body(
    command_id: str, stdout_b64: str, stderr_b64: str, done: bool, exit_code: int | None = None
) -> str:
    """Body of a Receive reply: the streams' chunks, End markers and the CommandState when done."""
    cid = quoteattr(command_id)
    parts = ["<rsp:ReceiveResponse>"]
    if stdout_b64:
        parts.append(f'<rsp:Stream Name="stdout" CommandId={cid}>{stdout_b64}</rsp:Stream>')
    if stderr_b64:
        parts.append(f'<rsp:Stream Name="stderr" CommandId={cid}>{stderr_b64}</rsp:Stream>')
    if done:
        parts.append(f'<rsp:Stream Name="stdout" CommandId={cid} End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId={cid} End="true"></rsp:Stream>')
        parts.append(
            f'<rsp:CommandState CommandId={cid} State="{STATE_DONE}"><rsp:ExitCode>{int(exit_code or 0)}'
            "</rsp:ExitCode></rsp:CommandState>"
        )
    else:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_RUNNING}"></rsp:CommandState>')
    parts.append("</rsp:ReceiveResponse>")
    return "".join(parts)


class WsmanFault(Exception):
    """A WS-Management fault, answered with HTTP 500 (or ``http_status``) and an s:Fault body."""

    def __init__(
        self,
        reason: str,
        *,
        wsman_code: int,
        code: str = "s:Receiver",
        subcode: str = "w:InternalError",
        wmi_error_code: int | None = None,
        http_status: int = 500,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wsman_code = wsman_code
        self.code = code
        self.subcode = subcode
        self.wmi_error_code = wmi_error_code
        self.http_status = http_status

    def envelope(self, relates_to: str, machine: str) -> bytes:
        reason = escape(self.reason)
        detail = (
            f'<f:WSManFault xmlns:f="{NS_FAULT}" Code="{self.wsman_code}" Machine={quoteattr(machine)}>'
            f"<f:Message>{reason}</f:Message></f:WSManFault>"
        )
        if self.wmi_error_code is not None:
            detail += (
                f'<p:MSFT_WmiError xmlns:p="{NS_WMI_ERROR}"><p:error_Code>{self.wmi_error_code}</p:error_Code>'
                f"<p:Message>{reason}</p:Message></p:MSFT_WmiError>"
            )
        body = (
            f"<s:Fault><s:Code><s:Value>{self.code}</s:Value><s:Subcode><s:Value>{self.subcode}</s:Value>"
            f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
            f"<s:Detail>{detail}</s:Detail></s:Fault>"
        )
        return envelope(ACTION_FAULT, relates_to, body)


def operation_timeout_fault() -> WsmanFault:
    return WsmanFault(
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        wsman_code=CODE_OPERATION_TIMEOUT,
        subcode="w:TimedOut",
    )


def shell_not_found_fault(shell_id: str | None) -> WsmanFault:
    return WsmanFault(
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation.",
        wsman_code=CODE_SHELL_NOT_FOUND,
        code="s:Sender",
        subcode="w:InvalidSelectors",
    )


def max_shells_fault(limit: int) -> WsmanFault:
    return WsmanFault(
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} "
        "concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.",
        wsman_code=CODE_MAX_SHELLS,
        subcode="w:QuotaLimit",
    )


def injected_500_fault() -> WsmanFault:
    return WsmanFault(
        "The WS-Management service cannot process the request: internal error (fault injected by the "
        "hygiene.winpatch lab, Faults.http_500).",
        wsman_code=CODE_E_FAIL,
    )


def bad_request_fault(reason: str, subcode: str = "w:InvalidParameter") -> WsmanFault:
    return WsmanFault(
        f"The WS-Management service cannot process the request: {reason}",
        wsman_code=CODE_INVALID_PARAMETER,
        code="s:Sender",
        subcode=subcode,
    )
