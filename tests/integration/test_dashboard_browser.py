# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML dashboard in a real headless Chromium (Debian's package, see tests/tools/install_chromium.sh).

Chromium loads the rendered file and gives back its DOM (``--dump-dom``), its network log (``--log-net-log``)
and a screenshot. The tests assert the numbers in the rendered DOM, that the page asks for nothing over the
network, and that the screenshot shows the styles and charts (pixels of the header, the stale-catalog warning and
the chart bars). Chromium's own DNS is pointed nowhere, so nothing can leave the machine whatever happens.

Without Chromium the tests are skipped, unless ``WINPATCH_REQUIRE_BROWSER=1`` makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.hygiene.winpatch.plugins.plugin_utils._report import STATE_COLORS, write_report
from tests.unit.history_samples import EVIL_HOST, EVIL_REASON, write_sample_history

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("WINPATCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("WINPATCH_REQUIRE_BROWSER") == "1":
        raise RuntimeError("Failed to find chromium for the dashboard tests: run tests/tools/install_chromium.sh")
    pytest.skip("chromium is not installed (tests/tools/install_chromium.sh installs it)", allow_module_level=True)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    # Belt and braces: no name resolves, so not even Chromium's own background requests leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
WIDTH, HEIGHT = 1280, 2600


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Render the sample report once, and load it once for the DOM + net log and once for a screenshot."""
    tmp = tmp_path_factory.mktemp("dashboard")
    history = write_sample_history(tmp / "history.sqlite")
    paths = write_report(history, tmp / "report", formats=["html"])["paths"]
    page = Path(paths["html"])
    net_log = tmp / "net-log.json"
    dom = _chromium(tmp, page, f"--log-net-log={net_log}", "--dump-dom").stdout
    shot = tmp / "dashboard.png"
    _chromium(tmp, page, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    return {"page": page, "dom": dom, "net_log": net_log, "screenshot": shot}


class _Dom(HTMLParser):
    """Text by element id, element names, and the rows of the tables."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.tags: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._ids: list[str | None] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in self.VOID:
            return
        ident = dict(attrs).get("id")
        self._ids.append(ident)
        if ident:
            self.text[ident] = ""
        if tag == "table" and ident:
            self._table = ident
            self.tables[ident] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self._ids:
            self._ids.pop()
        if tag == "td" and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        for ident in self._ids:
            if ident:
                self.text[ident] += data
        if self._cell is not None:
            self._cell.append(data)


def _dom(rendered: dict[str, object]) -> _Dom:
    parser = _Dom()
    parser.feed(str(rendered["dom"]))
    return parser


def test_rendered_dom_has_the_numbers(rendered: dict[str, object]) -> None:
    dom = _dom(rendered)
    assert dom.text["kpi-hosts"].strip() == "12"
    assert dom.text["kpi-rate"].strip() == "50.0 %"
    counts = {s: dom.text[f"kpi-{s}"].strip() for s in STATE_COLORS}
    assert counts == {
        "current": "5",
        "grace": "1",
        "behind": "3",
        "pending_reboot": "1",
        "unsupported": "0",
        "unreachable": "1",
        "error": "1",
    }
    assert dom.text["catalog-date"] == "2026-09-08"
    # The run was recorded as stale, but no host's result names a missing month: the banner says just that.
    assert (
        "The run was recorded with a stale baseline catalog (dated 2026-09-08);"
        " no host's result names a month it lacks." in " ".join(dom.text["stale-catalog"].split())
    )
    rings = [row[:4] for row in dom.tables["ring-table"] if row]
    assert rings == [
        ["pilot", "3", "3", "100.0 %"],
        ["early", "3", "1", "33.3 %"],
        ["broad", "5", "2", "40.0 %"],
        ["(none)", "1", "0", "0.0 %"],
    ]
    assert [row[0] for row in dom.tables["site-table"] if row] == ["lyon", "oslo", "paris", "(none)"]
    assert [(row[0], row[3]) for row in dom.tables["release-table"] if row] == [
        ("Windows 11 24H2", "80.0 %"),
        ("Windows Server 2022", "40.0 %"),
        ("unknown (not identified)", "0.0 %"),
        ("unknown (not reached)", "0.0 %"),
    ]
    laggards = [(row[0], row[1], row[2]) for row in dom.tables["laggards-table"] if row]
    assert laggards == [
        ("paris-04", "behind", "5"),
        ("lyon-05", "behind", "3"),
        ("lyon-02", "behind", "2"),
        ("lyon-03", "pending_reboot", "1"),
    ]
    assert [row[4] for row in dom.tables["trend-table"] if row] == ["50.0 %", "41.7 %", "33.3 %", "25.0 %"]
    assert [row[1:3] for row in dom.tables["builds-table"] if row][:2] == [
        ["10.0.26100.6899", "3"],
        ["10.0.26100.6584", "1"],
    ]
    # The host-supplied markup arrived as text: no script element, the evil strings readable as written.
    assert [(row[0], row[3]) for row in dom.tables["unreachable-table"] if row] == [(EVIL_HOST, EVIL_REASON)]
    assert "script" not in dom.tags
    # One SVG chart per grouping, plus the trend, with a bar segment per (group, state).
    assert dom.tags.count("svg") == 5
    assert dom.tags.count("polyline") == 1 and dom.tags.count("circle") == 4


def test_no_external_requests(rendered: dict[str, object]) -> None:
    html = Path(str(rendered["page"])).read_text()
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html
    # The page itself asked for nothing: every URL request in Chromium's net log is Chromium's own background
    # traffic ("not an origin"); anything the page loaded would carry the file:// page as its initiator.
    log = json.loads(Path(str(rendered["net_log"])).read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    page_requests = [
        event["params"]["url"]
        for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB"
        and "url" in event.get("params", {})
        and event["params"].get("initiator") != "not an origin"
    ]
    assert page_requests == []


def _png_pixels(path: Path) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and unfiltered rows of an 8-bit, non-interlaced RGB/RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _compression, _filter, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            corner = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def _colors(rows: list[bytes], bpp: int, y0: int, y1: int) -> set[str]:
    found = set()
    for row in rows[y0:y1]:
        for x in range(0, len(row), bpp * 2):
            found.add("#{:02x}{:02x}{:02x}".format(*row[x : x + 3]))
    return found


def test_screenshot_shows_styles_and_charts(rendered: dict[str, object]) -> None:
    # Checked by eye as well during development; here, the pixels that prove CSS and SVG were applied.
    width, height, bpp, rows = _png_pixels(Path(str(rendered["screenshot"])))
    assert (width, height) == (WIDTH, HEIGHT)
    assert _colors(rows, bpp, 5, 15) >= {"#1f3a4d"}  # the header bar
    page = _colors(rows, bpp, 0, height)
    assert "#fff3e0" in page  # the stale-catalog warning
    # Bars of every state present in the run are drawn in their colours (unsupported has no host).
    assert {STATE_COLORS[s] for s in STATE_COLORS if s != "unsupported"} <= page
    assert STATE_COLORS["unsupported"] in page  # its legend swatch
