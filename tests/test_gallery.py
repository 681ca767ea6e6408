"""The gallery page (figures/index.html): its HTML, and the page loaded in headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import manifest_subset, run_cli

from interp import figures

RENDERED = ("fig01", "fig02", "fig09")  # fast figures, rendered
PENDING = "fig10"  # in the manifest, not rendered: a placeholder


class _Page(HTMLParser):
    """The tags of a page: img sources, link targets, sections, scripts."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.sections, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "section":
            self.sections.append(attrs.get("id"))


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """A small manifest rendered by the CLI (three figures of four) with its gallery."""
    out = tmp_path_factory.mktemp("gallery")
    manifest = out / "manifest.toml"
    manifest.write_text(manifest_subset([*RENDERED, PENDING]), encoding="utf-8")
    proc = run_cli("interp.figures", "--manifest", manifest, "--only", *RENDERED)
    assert proc.returncode == 0, proc.stderr
    assert f"gallery: {out / 'index.html'}" in proc.stdout
    return out


def test_gallery_lists_every_figure_with_relative_images_and_key_numbers(gallery):
    text = (gallery / "index.html").read_text(encoding="utf-8")
    page = _parse(text)
    specs = figures.load_manifest(gallery / "manifest.toml")
    assert page.sections == [s.id for s in specs]
    assert page.images == [f"{i}.png" for i in RENDERED]
    for src in page.images + page.links:
        assert not re.match(r"^[a-z]+:|^/|\.\.", src), src  # relative, inside the folder
        target = src.split("#")[0]
        assert not target or (gallery / target).is_file(), src
    for spec in specs:
        assert html.escape(spec.title) in text
        assert html.escape(" ".join(spec.caption.split())) in text
    # key numbers, read from the data tables
    assert "<th>smallest sigma with one mode</th><td>0.6</td>" in text
    assert "<th>frames per sequence</th><td>11</td>" in text
    assert "<th>arrows</th>" in text
    # the figure not rendered yet: a placeholder saying how to render it
    assert "Not rendered yet: fig10.png is missing" in text and "--only fig10" in text
    assert "3 of 4 figures rendered" in text
    # static: no scripts, nothing from elsewhere
    assert "script" not in page.tags and "link" not in page.tags and "url(" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_gallery_escapes_every_text(tmp_path):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[[figure]]\nid = "fig09"\ntitle = "<script>alert(1)</script> & \\"more\\""\n'
        'caption = "<b>bold</b> <img src=x onerror=alert(2)>"\nanalysis = "onedim_score"\n'
        'outputs = ["fig09.png", "fig09.pdf", "fig09.csv"]\n', encoding="utf-8")
    text = figures.gallery_html(figures.load_manifest(manifest), tmp_path, "<m>.toml")
    page = _parse(text)
    assert "script" not in page.tags and "b" not in page.tags and page.images == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text and "&lt;m&gt;.toml" in text


def test_a_failing_summary_still_writes_the_gallery(gallery, monkeypatch):
    def broken(table):
        raise KeyError("no such column")

    monkeypatch.setitem(figures.SUMMARIES, "onedim_score", broken)
    text = figures.gallery_html(figures.load_manifest(gallery / "manifest.toml"), gallery)
    assert "Key numbers unavailable: KeyError" in text
    assert '<img src="fig09.png"' in text


def test_gallery_only_rewrites_the_page_from_disk(gallery, tmp_path):
    shutil.copytree(gallery, tmp_path / "g")
    folder = tmp_path / "g"
    before = (folder / "index.html").read_text(encoding="utf-8")
    (folder / "index.html").unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("fig*")}
    proc = run_cli("interp.figures", "--manifest", folder / "manifest.toml", "--gallery-only")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (folder / "index.html").read_text(encoding="utf-8") == before
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("fig*")} == stamps  # nothing re-rendered
    (folder / "fig02.png").unlink()
    figures.write_gallery(figures.load_manifest(folder / "manifest.toml"), folder)
    assert "Not rendered yet: fig02.png is missing" in (folder / "index.html").read_text(encoding="utf-8")


def test_gallery_from_tables_in_memory_matches_the_files(gallery, tmp_path):
    """The tracked gallery reads key numbers from the committed tables, not from the CSV files a
    run happened to leave: the same page when both hold the same table, and the same page
    whether or not the PDF and CSV files are on disk."""
    from interp.figures.cache import cache_key, read_cached_table

    specs = figures.load_manifest(gallery / "manifest.toml")
    tables = {}
    for spec in specs:
        tables[spec.id] = read_cached_table(gallery / "cache", spec, cache_key(spec)[0]) \
            if spec.id in RENDERED else None
    assert all(tables[i] is not None for i in RENDERED)
    from_files = figures.gallery_html(specs, gallery)
    assert figures.gallery_html(specs, gallery, tables=tables) == from_files
    shutil.copytree(gallery, tmp_path / "g")
    for p in (tmp_path / "g").glob("fig*"):
        if p.suffix != ".png":
            p.unlink()  # a fresh clone: only the tracked images
    assert figures.gallery_html(specs, tmp_path / "g", tables=tables) == from_files
    assert "fig09.pdf (missing)" in figures.gallery_html(specs, tmp_path / "g")  # from files: changed


# --------------------------------------------------------------------------- headless Chromium

_CHECK = """
<script>
window.addEventListener("load", function () {
  // drawn into a canvas, a fully decoded figure is opaque down to its last row (a truncated
  // file still reports its size, but its missing rows stay transparent)
  var images = Array.prototype.map.call(document.images, function (img) {
    var opaque = null;
    try {
      var canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      var context = canvas.getContext("2d");
      context.drawImage(img, 0, 0);
      var rows = [0, img.naturalHeight - 1];
      opaque = rows.every(function (y) {
        var data = context.getImageData(0, y, img.naturalWidth, 1).data;
        for (var i = 3; i < data.length; i += 4) { if (data[i] !== 255) return false; }
        return true;
      });
    } catch (err) {
      opaque = "error: " + err.name;
    }
    return {src: img.getAttribute("src"), complete: img.complete, width: img.naturalWidth,
            height: img.naturalHeight, opaque: opaque};
  });
  var result = {title: document.title, sections: document.querySelectorAll("section.figure").length,
                placeholders: document.querySelectorAll(".missing").length, images: images};
  var pre = document.createElement("pre");
  pre.id = "gallery-check";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _browse(folder: Path, profile: Path) -> dict:
    """What the check script sees of ``folder/index.html`` in headless Chromium."""
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert page.count("</body>") == 1
    check = folder / "check.html"
    check.write_text(page.replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
         "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", check.as_uri()],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="gallery-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no result in Chromium's DOM (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("broken", [False, True], ids=["intact", "truncated-image"])
def test_gallery_loads_in_headless_chromium(gallery, tmp_path, broken):
    """The page as a browser sees it: it loads, and every figure image is found and decoded.

    The gallery itself has no scripts; a copy of it beside the images gets a small one that,
    once the page has loaded, writes what it sees into the DOM, which Chromium dumps. With
    ``broken``, one image is cut short, and the same check must see it.
    """
    folder = tmp_path / "site"
    shutil.copytree(gallery, folder)
    if broken:
        data = (folder / "fig09.png").read_bytes()
        (folder / "fig09.png").write_bytes(data[: len(data) // 3])
    result = _browse(folder, tmp_path / "profile")
    assert result["title"].startswith("Figures")
    assert result["sections"] == len(RENDERED) + 1 and result["placeholders"] == 1
    assert [img["src"] for img in result["images"]] == [f"{i}.png" for i in RENDERED]
    for img in result["images"]:
        assert img["complete"] and img["width"] > 100 and img["height"] > 50, img
        assert img["opaque"] is (not broken or img["src"] != "fig09.png"), img
