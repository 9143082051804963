"""Check that the Chinese report.html renders every character, in headless Chromium.

Usage (from the repository root)::

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/check_cjk_report.py [RUN_DIR] [--out DIR] [--chromium PATH]

RUN_DIR is a finished comparison (its metrics.json and runs/*/history.json); without it the
synthetic comparison of tests/report/synthetic.py is used, which has every panel. The report is
rendered in Chinese into DIR (default: a new temporary folder; RUN_DIR's own report.html is left
alone), and four checks run:

1. figures: matplotlib found a font with Chinese glyphs (``alignlab.report.i18n.cjk_font``), so
   the figures are labelled in Chinese rather than falling back to English, and drawing them
   raised no "Glyph ... missing from font(s)" warning;
2. page text: every character of the page's visible text is in a font of the fallback chain
   fontconfig gives for Chinese sans-serif (``fc-match -s 'sans-serif:lang=zh-cn'``). That chain
   covers every character any installed font has, so a character outside it is drawn by
   Chromium as an empty box (tofu);
3. Chromium: the page is printed to PDF (DIR/report.pdf) and the fonts Chromium embedded must
   include the one fontconfig chose for the Chinese characters;
4. the full-page screenshot DIR/report.png is written, for a person to look at: headings,
   tables, verdict and figure labels should be Chinese glyphs, with no boxes.

It prints what it found (which fonts drew what) and exits 0 when checks 1-3 pass, 1 when one
fails, 2 when fontconfig or Chromium is missing. On Debian: ``apt-get install chromium
fonts-noto-cjk``. Chromium runs with --no-sandbox (needed as root; the page is a local file with
no scripts) and without network features.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WIDTH = 1280
# Taller than any report so far; the screenshot is cropped to the page afterwards.
HEIGHT = 16000
MISSING_GLYPH = re.compile(r"Glyph \d+ .* missing from font")
FONT_NOT_FOUND = re.compile(r"findfont: Font family .* not found")


def is_chinese(char: str) -> bool:
    """Han ideographs, CJK punctuation and full-width forms: what needs a CJK font."""
    code = ord(char)
    return 0x3000 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def chinese_metrics(run_dir: Path | None, out: Path) -> tuple[Path, dict[str, Any]]:
    """(the directory to render in, the metrics with the report language set to Chinese). A run's
    histories are reached through links in ``out``, so its own report.html is not overwritten."""
    if run_dir is None:
        sys.path.insert(0, str(REPO / "tests" / "report"))
        from synthetic import make_metrics

        return out, make_metrics(out, language="zh")
    from alignlab.report import load_metrics

    metrics = copy.deepcopy(load_metrics(run_dir))
    metrics.setdefault("config", {}).setdefault("report", {})["language"] = "zh"
    for top in {Path(r["run_dir"]).parts[0] for r in metrics.get("results", []) if r.get("run_dir")}:
        link = out / top
        if not link.exists():
            link.symlink_to((run_dir / top).resolve(), target_is_directory=True)
    return out, metrics


def render(run_dir: Path | None, out: Path) -> tuple[Path, list[str]]:
    """Render the Chinese report into ``out``; returns its path and what matplotlib warned about
    (warnings and font_manager log records) while drawing the figures."""
    from alignlab.report.html import render_report

    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.INFO)
    font_log = logging.getLogger("matplotlib.font_manager")
    font_log.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            root, metrics = chinese_metrics(run_dir, out)
            path = render_report(root, metrics)
    finally:
        font_log.removeHandler(handler)
    messages += [str(w.message) for w in caught]
    return path, messages


# --------------------------------------------------------------------------------------------
# Page text against fontconfig
# --------------------------------------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a reader sees: everything but the contents of <style> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


@dataclass
class Font:
    family: str
    postscript_name: str
    file: str
    chinese: bool  # fontconfig says it covers zh-cn
    codepoints: list[tuple[int, int]]  # inclusive ranges

    def covers(self, char: str) -> bool:
        code = ord(char)
        return any(low <= code <= high for low, high in self.codepoints)


def fallback_chain() -> list[Font]:
    """The fonts fontconfig falls back through for Chinese sans-serif text, best first."""
    # Tab-separated: fontconfig joins a font's languages with "|".
    fields = "\t".join(("%{family[0]}", "%{postscriptname}", "%{file}", "%{lang}", "%{charset}")) + "\\n"
    listing = subprocess.run(
        ["fc-match", "-s", f"--format={fields}", "sans-serif:lang=zh-cn"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    fonts = []
    for line in listing.splitlines():
        family, postscript, file, langs, charset = line.split("\t")
        ranges = []
        for item in charset.split():
            low, _, high = item.partition("-")
            ranges.append((int(low, 16), int(high or low, 16)))
        fonts.append(Font(family, postscript, file, "zh-cn" in langs.split("|"), ranges))
    return fonts


def coverage(text: str, chain: list[Font]) -> tuple[dict[str, list[str]], list[str]]:
    """(font family -> the page's characters it draws first, the characters no font has)."""
    by_font: dict[str, list[str]] = {}
    missing = []
    for char in sorted({c for c in text if not c.isspace()}):
        font = next((f for f in chain if f.covers(char)), None)
        if font is None:
            missing.append(char)
        else:
            by_font.setdefault(font.family, []).append(char)
    return by_font, missing


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------


def chromium(binary: str, out: Path, *args: str) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            check=True,
            timeout=300,
            cwd=out,
        )


def screenshot(binary: str, page: Path, png: Path) -> tuple[int, int]:
    """A full-page screenshot (cropped below the page's end); returns its size."""
    from PIL import Image, ImageChops

    chromium(binary, page.parent, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    with Image.open(png) as image:
        rgb = image.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
    box = ImageChops.difference(rgb, background).getbbox()
    bottom = rgb.height if box is None else min(rgb.height, box[3] + 24)
    rgb.crop((0, 0, rgb.width, bottom)).save(png)
    return rgb.width, bottom


def embedded_fonts(binary: str, page: Path, pdf: Path) -> list[str]:
    """The PostScript names of the fonts Chromium embedded printing the page (subset tags removed)."""
    chromium(binary, page.parent, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    names = re.findall(rb"/(?:FontName|BaseFont)\s*/(?:[A-Z]{6}\+)?([A-Za-z0-9_.-]+)", pdf.read_bytes())
    return sorted({name.decode("ascii") for name in names})


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_figures(run_dir: Path | None, out: Path, summary: dict[str, Any]) -> tuple[Path, list[str]]:
    """Check 1: render the report; the figures' font and matplotlib's complaints."""
    from matplotlib import font_manager

    from alignlab.report import i18n

    page, messages = render(run_dir, out)
    summary["report"] = str(page)
    summary["matplotlib_font"] = font = i18n.cjk_font()
    summary["matplotlib_warnings"] = sorted(set(messages))
    failures = []
    if font is None:
        failures.append("matplotlib found no CJK font: the figures fell back to English labels")
    else:
        properties = font_manager.FontProperties(family=font)
        summary["matplotlib_font_file"] = font_manager.findfont(properties, fallback_to_default=False)
    glyph_warnings = sorted({m for m in messages if MISSING_GLYPH.search(m) or FONT_NOT_FOUND.search(m)})
    if glyph_warnings:
        failures.append(f"matplotlib drew glyphs without a font: {glyph_warnings[:5]}")
    return page, failures


def check_text(html: str, chain: list[Font], summary: dict[str, Any]) -> list[str]:
    """Check 2: every character of the page's text is in some installed font."""
    visible = VisibleText()
    visible.feed(html)
    text = "".join(visible.parts)
    by_font, missing = coverage(text, chain)
    summary["page_characters"] = sum(len(chars) for chars in by_font.values()) + len(missing)
    summary["page_chinese_characters"] = len({c for c in text if is_chinese(c)})
    # Which font fontconfig's fallback would draw each character in; Chromium tries the CSS fonts
    # first, so the fonts it really used are the ones it embedded in the PDF (check 3).
    summary["fontconfig_fallback_fonts"] = {family: len(chars) for family, chars in by_font.items()}
    summary["fontconfig_chinese_fonts"] = sorted(
        family for family, chars in by_font.items() if any(is_chinese(c) for c in chars)
    )
    failures = []
    if '<html lang="zh-CN">' not in html:
        failures.append('the page is not Chinese (no <html lang="zh-CN">)')
    if not summary["page_chinese_characters"]:
        failures.append("the page has no Chinese characters")
    if missing:
        failures.append(f"no installed font has these characters of the page: {''.join(missing)!r}")
    return failures


def check_chromium(binary: str, page: Path, chain: list[Font], summary: dict[str, Any]) -> list[str]:
    """Checks 3 and 4: the fonts Chromium printed the page with, and the screenshot."""
    summary["screenshot"] = str(page.with_suffix(".png"))
    summary["screenshot_size"] = screenshot(binary, page, page.with_suffix(".png"))
    fonts = embedded_fonts(binary, page, page.with_suffix(".pdf"))
    summary["chromium_embedded_fonts"] = fonts
    wanted = {f.postscript_name for f in chain if f.family in summary["fontconfig_chinese_fonts"]}
    if not fonts:
        return ["could not read the fonts Chromium embedded in report.pdf"]
    if wanted and not wanted & set(fonts):
        return [f"Chromium embedded none of {sorted(wanted)} for the Chinese text"]
    return []


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("run_dir", nargs="?", type=Path, help="a finished comparison (default: the synthetic one)")
    cli.add_argument("--out", type=Path, help="where to write report.html, .png and .pdf (default: a temp dir)")
    cli.add_argument("--chromium", help=f"the Chromium binary (default: the first of {', '.join(CHROMIUM_NAMES)})")
    args = cli.parse_args(argv)
    run_dir = args.run_dir.resolve() if args.run_dir else None
    out = (args.out or Path(tempfile.mkdtemp(prefix="cjk-report-"))).resolve()
    if out == run_dir:
        cli.error("--out must not be the run directory: its report.html would be overwritten")
    out.mkdir(parents=True, exist_ok=True)
    binary = next((b for b in map(shutil.which, [args.chromium] if args.chromium else CHROMIUM_NAMES) if b), None)
    for tool, found in (("fontconfig's fc-match", shutil.which("fc-match")), ("Chromium", binary)):
        if not found:
            print(f"{tool} is not installed (Debian: apt-get install chromium fonts-noto-cjk)", file=sys.stderr)
            return 2

    summary: dict[str, Any] = {"out": str(out)}
    page, failures = check_figures(run_dir, out, summary)
    chain = fallback_chain()
    failures += check_text(page.read_text(encoding="utf-8"), chain, summary)
    failures += check_chromium(binary, page, chain, summary)
    summary["failures"] = failures
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    print("FAIL" if failures else f"OK: no missing glyphs; look at {summary['screenshot']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
