# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Test-side stand-in for the MSRC CVRF v3.0 API, built from the saved real documents.

No raw CVRF JSON document was saved (see ../shared/data/README.md section 6), so :func:`xml_to_json` builds the JSON
form of a saved XML document following Microsoft's published description of the API's JSON responses
(``docs/swagger.yaml`` in github.com/microsoft/MSRC-Microsoft-Security-Updates-API, definition ``cvrfReturnTypes200``):
strings wrapped as ``{"Value": ...}`` for titles/IDs/descriptions, ``ProductTree.Branch[].Items[].Items[]`` and
``ProductTree.FullProductName[]`` of ``{"ProductID", "Value"}``, and ``Vulnerability[].Remediations[]`` with
``Description.Value`` (the KB), ``URL``, ``Supercedence``, ``ProductID[]``, integer ``Type`` (2 = Vendor Fix) and
the newer ``SubType``, ``FixedBuild`` and ``RestartRequired.Value`` fields. This is test code only: it is
deliberately independent of ``plugins/plugin_utils/_cvrf.py``.

:class:`MsrcApiServer` serves ``/updates`` (the saved index JSON, trimmed to the served documents) and
``/cvrf/<ID>`` (XML, or JSON when the request's Accept header asks for ``application/json``) on 127.0.0.1.
"""

from __future__ import annotations

import json
import pathlib
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NS = {
    "cvrf": "http://www.icasi.org/CVRF/schema/cvrf/1.1",
    "prod": "http://www.icasi.org/CVRF/schema/prod/1.1",
    "vuln": "http://www.icasi.org/CVRF/schema/vuln/1.1",
}
# CVRF 1.1 remediation types in schema order; the JSON API serialises them as this index
REMEDIATION_TYPES = ["Workaround", "Mitigation", "Vendor Fix", "None Available", "Will Not Fix", "Release Notes"]


def _text(element: ET.Element | None) -> str:
    return (element.text or "") if element is not None else ""


def xml_to_json(path: pathlib.Path) -> dict[str, Any]:
    """The JSON form of a saved CVRF XML document (remediation-relevant parts; notes and scores left out)."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own saved test data
    tracking = root.find("cvrf:DocumentTracking", NS)
    assert tracking is not None
    branches = []
    for vendor in root.iterfind("prod:ProductTree/prod:Branch", NS):
        families = []
        for family in vendor.iterfind("prod:Branch", NS):
            items = [
                {"ProductID": p.get("ProductID"), "Value": _text(p)}
                for p in family.iterfind("prod:FullProductName", NS)
            ]
            families.append({"Items": items, "Type": 3, "Name": family.get("Name")})
        branches.append({"Items": families, "Type": 0, "Name": vendor.get("Name")})
    full_names = [
        {"ProductID": p.get("ProductID"), "Value": _text(p)} for p in root.iter(f"{{{NS['prod']}}}FullProductName")
    ]  # the API lists every product here too, whatever its depth in the branches
    vulnerabilities = []
    for ordinal, vuln in enumerate(root.iterfind("vuln:Vulnerability", NS)):
        remediations = []
        for rem in vuln.iterfind("vuln:Remediations/vuln:Remediation", NS):
            kind = rem.get("Type", "")
            entry: dict[str, Any] = {
                "Description": {"Value": _text(rem.find("vuln:Description", NS))},
                "URL": _text(rem.find("vuln:URL", NS)),
                "ProductID": [_text(p) for p in rem.iterfind("vuln:ProductID", NS)],
                "Type": REMEDIATION_TYPES.index(kind) if kind in REMEDIATION_TYPES else 6,
                "DateSpecified": False,
                "AffectedFiles": [],
                "RestartRequired": {"Value": _text(rem.find("vuln:RestartRequired", NS))},
                "SubType": _text(rem.find("vuln:SubType", NS)),
                "FixedBuild": _text(rem.find("vuln:FixedBuild", NS)),
            }
            if rem.find("vuln:Supercedence", NS) is not None:
                entry["Supercedence"] = _text(rem.find("vuln:Supercedence", NS))
            remediations.append(entry)
        vulnerabilities.append(
            {
                "Title": {"Value": _text(vuln.find("vuln:Title", NS))},
                "Notes": [],
                "DiscoveryDateSpecified": False,
                "ReleaseDateSpecified": False,
                "CVE": _text(vuln.find("vuln:CVE", NS)),
                "ProductStatuses": [],
                "Threats": [],
                "CVSSScoreSets": [],
                "Remediations": remediations,
                "Acknowledgments": [],
                "Ordinal": str(ordinal),
                "RevisionHistory": [],
            }
        )
    return {
        "DocumentTitle": {"Value": _text(root.find("cvrf:DocumentTitle", NS))},
        "DocumentType": {"Value": _text(root.find("cvrf:DocumentType", NS))},
        "DocumentPublisher": {"ContactDetails": {"Value": "secure@microsoft.com"}, "Type": 0},
        "DocumentTracking": {
            "Identification": {
                "ID": {"Value": _text(tracking.find("cvrf:Identification/cvrf:ID", NS))},
                "Alias": {"Value": _text(tracking.find("cvrf:Identification/cvrf:Alias", NS))},
            },
            "Status": 2,
            "Version": _text(tracking.find("cvrf:Version", NS)),
            "RevisionHistory": [],
            "InitialReleaseDate": _text(tracking.find("cvrf:InitialReleaseDate", NS)),
            "CurrentReleaseDate": _text(tracking.find("cvrf:CurrentReleaseDate", NS)),
        },
        "DocumentNotes": [],
        "ProductTree": {"Branch": branches, "FullProductName": full_names},
        "Vulnerability": vulnerabilities,
    }


class MsrcApiServer:
    """``/updates`` and ``/cvrf/<ID>`` on 127.0.0.1 from a set of documents; use as a context manager."""

    def __init__(
        self,
        documents: dict[str, bytes],
        index: dict[str, Any],
        *,
        json_documents: dict[str, bytes] | None = None,
        prefix: str = "/cvrf/v3.0",
    ) -> None:
        self.documents = documents
        self.json_documents = json_documents or {}
        self.prefix = prefix
        self.requests: list[tuple[str, str]] = []  # (path, Accept header)
        served = set(documents) | set(self.json_documents)
        self.index = dict(index, value=[d for d in index["value"] if d["ID"] in served])
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def __enter__(self) -> MsrcApiServer:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                accept = self.headers.get("Accept", "")
                api.requests.append((self.path, accept))
                path = self.path.split("?", 1)[0]
                if not path.startswith(api.prefix):
                    return self._send(404, b"not found", "text/plain")
                path = path[len(api.prefix) :]
                if path.lower() == "/updates":
                    index = dict(
                        api.index, value=[dict(d, CvrfUrl=f"{api.url}/cvrf/{d['ID']}") for d in api.index["value"]]
                    )
                    return self._send(200, json.dumps(index).encode(), "application/json")
                if path.startswith("/cvrf/"):
                    doc_id = path[len("/cvrf/") :]
                    if "application/json" in accept and doc_id in api.json_documents:
                        return self._send(200, api.json_documents[doc_id], "application/json")
                    if doc_id in api.documents:
                        return self._send(200, api.documents[doc_id], "application/xml")
                return self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
