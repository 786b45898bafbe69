"""The report as a reader meets it: its visible text, its images' sizes, and (where a browser exists) its layout.

Used by the report tests on a fabricated study and on the smoke study's real report.
"""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

PAGE_PX = 1200
"""the report's column (``body{max-width:1200px}``): no image may be wider in its own pixels"""
VIEWPORT = (1300, 900)
"""a common laptop browser window, CSS pixels"""

WARNING_TEXT = re.compile(r"\b[A-Z]\w*Warning\b|warnings\.warn\(|site-packages|ipykernel_\d+|"
                          r"Traceback \(most recent call last\)|IProgress not found")
PROGRESS_RESIDUE = re.compile(r"\d+%\|[^|\n]*\||\d+/\d+ \[\d+:\d+<|(?:it|s|seed)/(?:s|it|seed)\]")
RAW_DICT = re.compile(r"\{\s*'[^'\n]{1,80}'\s*:")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.images: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def read(page: str) -> tuple[str, list[str]]:
    """(the visible text, every image's src)."""
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts), parser.images


def image_width(src: str, folder: Path) -> int:
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
        return Image.open(io.BytesIO(data)).size[0]
    return Image.open(folder / src).size[0]


def reader_problems(report: Path) -> list[str]:
    """Everything a reader should never see in ``report`` (an index.html): each problem as one line."""
    page = report.read_text(encoding="utf-8")
    text, images = read(page)
    problems = [f"{what}: {m.group(0)!r} in ...{text[max(0, m.start() - 80):m.end() + 40]!r}..."
                for what, pattern in (("warning text", WARNING_TEXT), ("progress residue", PROGRESS_RESIDUE),
                                      ("raw dict dump", RAW_DICT))
                for m in [pattern.search(text)] if m]
    if not re.search(r"img\{max-width:100%", page):
        problems.append("no max-width:100% rule for images")
    for src in images:
        width = image_width(src, report.parent)
        if width > PAGE_PX:
            problems.append(f"an image {width} px wide, wider than the {PAGE_PX} px page: {src[:60]}")
    return problems


def browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


PROBE = """<script>window.addEventListener('load', function () {
  var w = window.innerWidth, pre = document.createElement('pre');
  var wide = Array.from(document.images).filter(function (i) {
    var r = i.getBoundingClientRect(); return r.right > w + 1 || i.naturalWidth === 0; }).map(function (i) {
    return (i.alt || i.src).slice(0, 80); });
  var top = function (sel) { var e = document.querySelector(sel); return e ? e.getBoundingClientRect().top : -1; };
  pre.id = 'reader-check';
  pre.textContent = JSON.stringify({viewport: w, scroll_width: document.documentElement.scrollWidth, wide: wide,
    effects_top: top('img[src="effects.png"]'), scorecard_top: top('#scorecard'), images: document.images.length});
  document.body.appendChild(pre);
});</script>"""


def layout_in_browser(report: Path, work: Path, exe: str) -> tuple[dict, Path]:
    """Open ``report`` in headless ``exe`` at :data:`VIEWPORT`: the layout measured by a probe script, and a
    screenshot of the first screen (written to ``work``)."""
    probe = work / "probe.html"
    page = report.read_text(encoding="utf-8")
    page = page.replace("<head>", f'<head><base href="{report.parent.resolve().as_uri()}/">', 1)
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--virtual-time-budget=10000"]
    dom = subprocess.run(args + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180,
                         check=False).stdout
    found = re.search(r'<pre id="reader-check">(.*?)</pre>', dom, re.DOTALL)
    assert found, f"the probe did not run: {dom[-500:]!r}"
    shot = work / "first_screen.png"
    subprocess.run(args + [f"--screenshot={shot}", report.resolve().as_uri()], capture_output=True, timeout=180,
                   check=False)
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")), shot
