# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""hygiene.winpatch.catalog_update through the real ansible-playbook (localhost, connection local).

The online path talks to a local HTTP server on 127.0.0.1 (``tests/tools/msrc_api.py``) that serves the saved real
MSRC documents the way the MSRC CVRF v3.0 API does: ``/updates`` (the saved index, trimmed to the served documents)
and ``/cvrf/<ID>`` as XML or, when the Accept header asks for it, JSON. No raw CVRF JSON document was saved, so the
JSON the server returns is built test-side from the saved XML following Microsoft's published schema of the API's
JSON responses (``docs/swagger.yaml`` of microsoft/MSRC-Microsoft-Security-Updates-API, ``cvrfReturnTypes200``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _catalog
from tests.tools.msrc_api import MsrcApiServer, xml_to_json

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("WINPATCH_SHARED_DATA") or REPO / ".." / "shared" / "data")
CVRF = DATA / "msrc-cvrf"
DOCS = ["2026-Mar", "2026-Apr", "2026-May", "2026-Jun"]
BIN = pathlib.Path(sys.executable).parent


def _trimmed_catalog(before: str) -> dict:
    """The shipped catalog as it would have been before ``before`` (YYYY-MM-DD): an older, valid catalog."""
    data = json.loads(_catalog.default_catalog_path().read_text(encoding="utf-8"))
    for release in data["releases"].values():
        release["updates"] = [u for u in release["updates"] if u["date"] < before]
    newest = max(u["date"] for r in data["releases"].values() for u in r["updates"] if u["kind"] == "B")
    data["data_date"] = newest
    return data


def run_tasks(tmp_path: pathlib.Path, tasks: list[dict]) -> list[dict]:
    """Run the tasks in one play with ansible-playbook; return each task's registered result."""
    play_tasks = []
    for index, task in enumerate(tasks):
        play_tasks.append({**task, "register": f"r{index}", "ignore_errors": True})
    names = ", ".join(f"r{i}" for i in range(len(tasks)))
    out = tmp_path / "results.json"
    play_tasks.append(
        {"ansible.builtin.copy": {"content": "{{ [" + names + "] | to_json }}", "dest": str(out), "mode": "0600"}}
    )
    playbook = tmp_path / "play.yml"
    play = [{"name": "catalog_update", "hosts": "localhost", "gather_facts": False, "tasks": play_tasks}]
    playbook.write_text(json.dumps(play), encoding="utf-8")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def api_documents() -> tuple[dict[str, bytes], dict[str, bytes], dict]:
    xml = {doc_id: (CVRF / f"{doc_id}.xml").read_bytes() for doc_id in DOCS}
    as_json = {doc_id: json.dumps(xml_to_json(CVRF / f"{doc_id}.xml")).encode() for doc_id in DOCS}
    index = json.loads((CVRF / "updates-index_20260706T222806Z.json").read_text(encoding="utf-8"))
    return xml, as_json, index


def test_online_refresh_adds_the_new_months(tmp_path, api_documents):
    xml, as_json, index = api_documents
    dest = tmp_path / "catalog.json"
    dest.write_text(_catalog.dump_catalog(_trimmed_catalog("2026-03-01")), encoding="utf-8")
    before = dest.read_text(encoding="utf-8")
    with MsrcApiServer(xml, index, json_documents=as_json) as api:
        preview, real, again = run_tasks(
            tmp_path,
            [
                {
                    "hygiene.winpatch.catalog_update": {
                        "api_url": api.url,
                        "dest": str(dest),
                        "document_format": "xml",
                    },
                    "check_mode": True,
                    "diff": True,
                },
                {"hygiene.winpatch.catalog_update": {"api_url": api.url, "dest": str(dest), "backup": True}},
                {"hygiene.winpatch.catalog_update": {"api_url": api.url, "dest": str(dest)}},
            ],
        )
        requests = list(api.requests)

    # check mode: the same answer, nothing written, the diff shows the data date and newest builds
    assert preview["changed"] is True and not preview.get("failed"), preview
    assert preview["months_added"] == ["2026-03", "2026-04", "2026-05", "2026-06"]
    assert "data_date: 2026-02-10" in preview["diff"]["before"]
    assert "data_date: 2026-06-09" in preview["diff"]["after"]
    assert "windows_server_2025: 10.0.26100.32995" in preview["diff"]["after"]
    assert "windows_11_24h2: 10.0.26100.8655" in preview["diff"]["after"]

    # the real run writes the catalog, keeps a backup and reports what it added
    assert real["changed"] is True, real
    assert real["previous_data_date"] == "2026-02-10" and real["data_date"] == "2026-06-09"
    assert real["documents"] == DOCS
    assert "windows_server_2025" in real["releases_updated"] and "windows_11_24h2" in real["releases_updated"]
    assert pathlib.Path(real["backup_file"]).read_text(encoding="utf-8") == before
    new = _catalog.load_catalog(dest)
    shipped = _catalog.load_catalog()
    for release_id, release in shipped.releases.items():
        wanted = [(u.kb, u.build, u.date) for u in release.security_updates() if "2026-03" <= u.month <= "2026-06"]
        got = [(u.kb, u.build, u.date) for u in new.release(release_id).security_updates() if u.month >= "2026-03"]
        assert got == wanted, release_id
    assert new.release("windows_11_25h2").by_kb("KB5094126").prerequisites == ("KB5043080",)

    # a second run has nothing to add
    assert again["changed"] is False and again["documents"] == []
    assert again["warnings"] == ["No CVRF document newer than the catalog was found; the catalog is unchanged."]

    # the index first, then each monthly document newer than the catalog, in the requested form
    assert requests[0] == ("/cvrf/v3.0/updates", "application/json")
    assert ("/cvrf/v3.0/cvrf/2026-Mar", "application/xml") in requests  # check-mode run asked for XML
    assert ("/cvrf/v3.0/cvrf/2026-Jun", "application/json") in requests  # the default is JSON
    assert not any("2026-Feb" in path for path, _accept in requests)


def test_bad_input_is_refused_and_changes_nothing(tmp_path, api_documents):
    xml, as_json, index = api_documents
    dest = tmp_path / "catalog.json"
    dest.write_text(_catalog.dump_catalog(_trimmed_catalog("2026-06-01")), encoding="utf-8")
    original = dest.read_bytes()
    mtime = dest.stat().st_mtime_ns

    # a directory with one file that is not a CVRF document
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "2026-Jun.xml").write_bytes(xml["2026-Jun"])
    (mixed / "zz-feed.xml").write_text("<rss><channel/></rss>", encoding="utf-8")
    # a truncated document
    cut = tmp_path / "2026-Jun-cut.xml"
    cut.write_bytes(xml["2026-Jun"][:200_000])
    # a document that lacks Server 2025: the month would be partial
    partial = json.loads(as_json["2026-Jun"])
    for vuln in partial["Vulnerability"]:
        for rem in vuln["Remediations"]:
            rem["ProductID"] = [p for p in rem["ProductID"] if p not in {"12436", "12437"}]
    names = {p["ProductID"]: p["Value"] for p in partial["ProductTree"]["FullProductName"]}
    assert names["12436"].startswith("Windows Server 2025") and names["12437"].startswith("Windows Server 2025")
    partial_path = tmp_path / "2026-Jun-partial.json"
    partial_path.write_text(json.dumps(partial), encoding="utf-8")
    # a corrupt destination
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(original.decode()[:1000], encoding="utf-8")
    corrupt_before = corrupt.read_bytes()

    with MsrcApiServer(xml, index, json_documents=as_json) as api:
        results = run_tasks(
            tmp_path,
            [
                {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(mixed), "dest": str(dest)}},
                {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(cut), "dest": str(dest)}},
                {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(partial_path), "dest": str(dest)}},
                {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(mixed), "dest": str(corrupt)}},
                {"hygiene.winpatch.catalog_update": {"api_url": api.url + "/nope", "dest": str(dest)}},
                {"hygiene.winpatch.catalog_update": {"mode": "offline", "dest": str(dest)}},
                # an older document than the catalog holds adds nothing
                {
                    "hygiene.winpatch.catalog_update": {
                        "mode": "offline",
                        "src": str(CVRF / "2026-Mar.xml"),
                        "dest": str(dest),
                    }
                },
            ],
        )
    msgs = [r.get("msg", "") for r in results]
    assert all(r.get("failed") for r in results[:6]), msgs
    assert msgs[0] == (
        f"Failed to read the CVRF document {mixed / 'zz-feed.xml'}: not a CVRF document "
        "(root element 'rss', expected cvrf:cvrfdoc)"
    )
    assert msgs[1].startswith(f"Failed to read the CVRF document {cut}: not well-formed XML (")
    assert msgs[2] == (
        "Failed to update the catalog: the documents (2026-Jun) hold only part of 2026-06: "
        "no B release for windows_server_2025"
    )
    assert msgs[3].startswith(f"Failed to load the catalog {corrupt}: not valid JSON (")
    assert msgs[3].endswith(f"(fix or remove {corrupt} before updating it)")
    assert msgs[4].startswith(f"Failed to download {api.url}/nope/updates: HTTP Error 404")
    assert msgs[5] == "Failed to update the catalog: option 'src' is required when mode is 'offline'"
    assert results[6].get("failed") is not True and results[6]["changed"] is False, results[6]

    # nothing was touched
    assert dest.read_bytes() == original and dest.stat().st_mtime_ns == mtime
    assert corrupt.read_bytes() == corrupt_before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".catalog-")) == []


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_documents_that_skip_months_are_refused(tmp_path):
    """A catalog up to 2026-02 and only the 2026-May document: 2026-03 and 2026-04 would be missing."""
    dest = tmp_path / "gap.json"
    dest.write_text(_catalog.dump_catalog(_trimmed_catalog("2026-03-01")), encoding="utf-8")
    checksum, mtime = _sha256(dest), dest.stat().st_mtime_ns
    between = tmp_path / "mar-and-may"
    between.mkdir()
    for doc_id in ("2026-Mar", "2026-May"):
        (between / f"{doc_id}.xml").write_bytes((CVRF / f"{doc_id}.xml").read_bytes())
    may_only, middle, check = run_tasks(
        tmp_path,
        [
            {
                "hygiene.winpatch.catalog_update": {
                    "mode": "offline",
                    "src": str(CVRF / "2026-May.xml"),
                    "dest": str(dest),
                }
            },
            {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(between), "dest": str(dest)}},
            {
                "hygiene.winpatch.catalog_update": {
                    "mode": "offline",
                    "src": str(CVRF / "2026-May.xml"),
                    "dest": str(dest),
                },
                "check_mode": True,
            },
        ],
    )
    assert may_only.get("failed") is True and may_only["changed"] is False, may_only
    assert may_only["msg"] == (
        "Failed to update the catalog: the documents skip 2026-03, 2026-04 after the catalog's 2026-02; "
        "add those months' documents"
    )
    assert middle.get("failed") is True, middle
    assert middle["msg"] == (
        "Failed to update the catalog: the documents skip 2026-04 after the catalog's 2026-02; "
        "add those months' documents"
    )
    assert check.get("failed") is True and check["msg"] == may_only["msg"], check
    assert _sha256(dest) == checksum and dest.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".catalog-")) == []


def test_new_dest_gets_the_current_catalog_when_nothing_is_new(tmp_path):
    """dest does not exist and the documents add nothing: dest still ends up holding a valid catalog."""
    dest = tmp_path / "new" / "catalog.json"
    shipped = _catalog.load_catalog()
    old = str(CVRF / "2026-Mar.xml")
    preview, real, again = run_tasks(
        tmp_path,
        [
            {
                "hygiene.winpatch.catalog_update": {"mode": "offline", "src": old, "dest": str(dest)},
                "check_mode": True,
                "diff": True,
            },
            {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": old, "dest": str(dest)}},
            {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": old, "dest": str(dest)}},
        ],
    )
    # check mode: reported as a change, the diff shows the catalog dest would get, nothing written
    assert preview["changed"] is True and not preview.get("failed"), preview
    assert preview["diff"]["before"] == ""
    assert preview["diff"]["before_header"] == f"{dest} (absent)"
    assert f"data_date: {shipped.data_date.isoformat()}" in preview["diff"]["after"]
    assert "windows_11_24h2: " + shipped.newest_builds()["windows_11_24h2"] in preview["diff"]["after"]
    # the real run writes the shipped catalog as it is
    assert real["changed"] is True and not real.get("failed"), real
    assert real["data_date"] == real["previous_data_date"] == shipped.data_date.isoformat()
    assert real["months_added"] == [] and real["releases_updated"] == [] and real["documents"] == ["2026-Mar"]
    assert dest.read_text(encoding="utf-8") == _catalog.dump_catalog(shipped)
    assert _catalog.load_catalog(dest).to_dict() == shipped.to_dict()
    # the documented next step works: the catalog loads from dest; a second run has nothing to do
    assert again["changed"] is False and not again.get("failed"), again


def test_directory_with_the_update_index_skips_it(tmp_path):
    """The MSRC /updates index saved next to the documents is skipped and reported; other non-CVRF files fail."""
    dest = tmp_path / "catalog.json"
    dest.write_text(_catalog.dump_catalog(_trimmed_catalog("2026-06-01")), encoding="utf-8")
    index_name = "updates-index_20260706T222806Z.json"
    with_index = tmp_path / "with-index"
    with_index.mkdir()
    (with_index / "2026-Jun.xml").write_bytes((CVRF / "2026-Jun.xml").read_bytes())
    (with_index / index_name).write_bytes((CVRF / index_name).read_bytes())
    with_other = tmp_path / "with-other"
    with_other.mkdir()
    (with_other / index_name).write_bytes((CVRF / index_name).read_bytes())
    (with_other / "2026-Jun.xml").write_bytes((CVRF / "2026-Jun.xml").read_bytes())
    (with_other / "notes.json").write_text('{"value": [{"ID": "2026-Jun"}]}', encoding="utf-8")
    only_index = tmp_path / "only-index"
    only_index.mkdir()
    (only_index / index_name).write_bytes((CVRF / index_name).read_bytes())

    other_dest = tmp_path / "other.json"
    other_dest.write_bytes(dest.read_bytes())
    other_checksum = _sha256(other_dest)
    only_dest = tmp_path / "only.json"
    only_dest.write_bytes(dest.read_bytes())
    only_checksum = _sha256(only_dest)

    other, only, real = run_tasks(
        tmp_path,
        [
            {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(with_other), "dest": str(other_dest)}},
            {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(only_index), "dest": str(only_dest)}},
            {"hygiene.winpatch.catalog_update": {"mode": "offline", "src": str(with_index), "dest": str(dest)}},
        ],
    )
    reason = "the MSRC update index (the API's /updates answer), not a CVRF document"
    assert other.get("failed") is True, other
    assert other["msg"] == (
        f"Failed to read the CVRF document {with_other / 'notes.json'}: not a CVRF document "
        "(no DocumentTracking/Vulnerability)"
    )
    assert only.get("failed") is True, only
    assert only["msg"] == (
        f"Failed to update the catalog: {only_index} holds no CVRF document; skipped "
        f"{only_index / index_name}: {reason}"
    )
    assert _sha256(other_dest) == other_checksum and _sha256(only_dest) == only_checksum

    assert real["changed"] is True and not real.get("failed"), real
    assert real["documents"] == ["2026-Jun"] and real["months_added"] == ["2026-06"]
    assert real["skipped_files"] == [{"path": str(with_index / index_name), "reason": reason}]
    assert "skipped" not in real and "warnings" not in real, real  # Ansible's own "skipped" key is left alone
    assert _catalog.load_catalog(dest).data_date.isoformat() == "2026-06-09"
