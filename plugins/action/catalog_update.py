# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, hygiene.winpatch contributors
"""Action plugin for hygiene.winpatch.catalog_update: refresh the baseline catalog from MSRC CVRF documents."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url
from ansible.utils.display import Display

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _catalog, _cvrf
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._action import ControllerAction
from ansible_collections.hygiene.winpatch.plugins.plugin_utils._errors import CatalogError

display = Display()

DEFAULT_API_URL = "https://api.msrc.microsoft.com/cvrf/v3.0"
ARGUMENT_SPEC: dict[str, Any] = {
    "mode": {"type": "str", "choices": ["online", "offline"], "default": "online"},
    "src": {"type": "path"},
    "api_url": {"type": "str", "default": DEFAULT_API_URL},
    "document_format": {"type": "str", "choices": ["json", "xml"], "default": "json"},
    "validate_certs": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 60},
    "dest": {"type": "path"},
    "backup": {"type": "bool", "default": False},
}
_MONTHLY_ID = re.compile(r"^\d{4}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)$")
_ACCEPT = {"json": "application/json", "xml": "application/xml"}


def _summary(catalog: _catalog.Catalog | None) -> str:
    """The text diff mode compares: the data date and each release's newest build."""
    if catalog is None:
        return ""
    lines = [f"data_date: {catalog.data_date.isoformat()}"]
    lines += [f"{rid}: {build or '-'}" for rid, build in catalog.newest_builds().items()]
    return "\n".join(lines) + "\n"


class ActionModule(ControllerAction):
    failure_prefix = "Failed to update the catalog"

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        if args["mode"] == "offline" and not args["src"]:
            raise AnsibleActionFail("Failed to update the catalog: option 'src' is required when mode is 'offline'")
        self.fail_unless_positive(args, "timeout")
        dest = os.path.abspath(os.path.expanduser(args["dest"] or str(_catalog.default_catalog_path())))

        # the current catalog: dest when it exists (it must be valid), otherwise the shipped one
        try:
            current = _catalog.load_catalog(dest if os.path.exists(dest) else None)
        except CatalogError as e:
            raise AnsibleActionFail(f"{e} (fix or remove {dest} before updating it)") from None

        # read the documents, every one of them validated before anything is written
        skipped: list[dict[str, str]] = []
        try:
            if args["mode"] == "offline":
                documents, skipped = self._read_offline(os.path.expanduser(args["src"]))
            else:
                documents = self._read_online(args, current)
            generated_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            refresh = _cvrf.refresh_catalog(current, documents, generated_at=generated_at)
        except CatalogError as e:
            raise AnsibleActionFail(str(e)) from None

        for line in refresh.log:
            display.vvv(f"catalog_update: {line}")
        for line in refresh.dropped:
            display.vv(f"catalog_update: dropped {line}")
        for item in skipped:
            display.v(f"catalog_update: skipped {item['path']}: {item['reason']}")
        # a new dest always gets a catalog, the current one when the documents add nothing, so that the next step
        # (catalog_path: <dest>) finds it
        dest_exists = os.path.exists(dest)
        changed = refresh.changed or not dest_exists
        if not documents:
            result["warnings"] = [
                "No CVRF document newer than the catalog was found; "
                + ("the catalog is unchanged." if dest_exists else f"{dest} gets the current catalog as it is.")
            ]
        elif not refresh.changed:
            display.v("catalog_update: the documents add nothing the catalog does not already hold")

        # write atomically (same directory, then rename), keeping a backup when asked
        backup_file = None
        if changed and not self._task.check_mode:
            backup_file = self._write(dest, refresh.catalog, args["backup"])

        result.update(
            changed=changed,
            dest=dest,
            data_date=refresh.catalog.data_date.isoformat(),
            previous_data_date=current.data_date.isoformat(),
            months_added=refresh.months_added,
            releases_updated=refresh.releases_updated,
            documents=refresh.documents,
            dropped=refresh.dropped,
            skipped_files=skipped,  # not "skipped": Ansible reads that key as "the task was skipped"
        )
        if backup_file:
            result["backup_file"] = backup_file
        if self._task.diff:
            result["diff"] = {
                "before_header": f"{dest} (data_date {current.data_date.isoformat()})"
                if dest_exists
                else f"{dest} (absent)",
                "after_header": f"{dest} (data_date {refresh.catalog.data_date.isoformat()})",
                "before": _summary(current if dest_exists else None),
                "after": _summary(refresh.catalog),
            }
        return result

    def _read_offline(self, src: str) -> tuple[list[_cvrf.CvrfDocument], list[dict[str, str]]]:
        """The CVRF documents at ``src`` and the files skipped (the MSRC update index saved next to them)."""
        if os.path.isdir(src):
            names = sorted(n for n in os.listdir(src) if n.lower().endswith((".xml", ".json")))
            if not names:
                raise CatalogError(f"Failed to update the catalog: directory {src} holds no .xml or .json document")
            paths = [os.path.join(src, n) for n in names]
        elif os.path.isfile(src):
            paths = [src]
        else:
            raise CatalogError(f"Failed to read the CVRF document {src}: no such file or directory")
        documents, skipped = _cvrf.read_documents(paths)
        if not documents:
            reasons = "; ".join(f"{item['path']}: {item['reason']}" for item in skipped)
            raise CatalogError(f"Failed to update the catalog: {src} holds no CVRF document; skipped {reasons}")
        return documents, skipped

    def _fetch(self, url: str, accept: str, args: dict[str, Any]) -> bytes:
        try:
            response = open_url(
                url,
                headers={"Accept": accept},
                validate_certs=args["validate_certs"],
                timeout=args["timeout"],
                http_agent="hygiene.winpatch-catalog_update",
            )
            return response.read()
        except Exception as e:  # urllib/ssl/socket errors all mean the same thing to the user
            raise CatalogError(f"Failed to download {url}: {to_text(e)}") from e

    def _read_online(self, args: dict[str, Any], current: _catalog.Catalog) -> list[_cvrf.CvrfDocument]:
        base = args["api_url"].rstrip("/")
        index_url = f"{base}/updates"
        raw = self._fetch(index_url, "application/json", args)
        try:
            entries = json.loads(raw)["value"]
            if not isinstance(entries, list):
                raise TypeError("'value' is not a list")
        except (ValueError, KeyError, TypeError) as e:
            raise CatalogError(f"Failed to read the MSRC update index {index_url}: {e}") from e

        # the monthly documents first released after the catalog's data date
        wanted = []
        for entry in entries:
            if not isinstance(entry, dict) or not _MONTHLY_ID.match(str(entry.get("ID", ""))):
                continue
            try:
                released = datetime.date.fromisoformat(str(entry.get("InitialReleaseDate", ""))[:10])
            except ValueError:
                raise CatalogError(
                    f"Failed to read the MSRC update index {index_url}: {entry.get('ID')} has no InitialReleaseDate"
                ) from None
            if released > current.data_date:
                wanted.append((released, entry["ID"]))
        documents = []
        for _released, doc_id in sorted(wanted):
            url = f"{base}/cvrf/{doc_id}"
            display.v(f"catalog_update: downloading {url}")
            body = self._fetch(url, _ACCEPT[args["document_format"]], args)
            documents.append(_cvrf.parse_document(body, source=url))
        return documents

    def _write(self, dest: str, catalog: _catalog.Catalog, backup: bool) -> str | None:
        text = _catalog.dump_catalog(catalog)
        _catalog.parse_catalog(json.loads(text), source=dest)  # what is written must load back
        directory = os.path.dirname(dest) or "."
        try:
            os.makedirs(directory, exist_ok=True)
            backup_file = None
            if backup and os.path.exists(dest):
                stamp = datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")
                backup_file = f"{dest}.{os.getpid()}.{stamp}~"
                shutil.copy2(dest, backup_file)
            fd, tmp_path = tempfile.mkstemp(prefix=".catalog-", suffix=".json", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                if os.path.exists(dest):
                    shutil.copymode(dest, tmp_path)
                else:
                    os.chmod(tmp_path, 0o644)
                os.replace(tmp_path, dest)
            finally:
                if os.path.exists(tmp_path):
                    os.unlink(tmp_path)
        except OSError as e:
            raise AnsibleActionFail(f"Failed to write the catalog {dest}: {e.strerror or e}") from None
        return backup_file
