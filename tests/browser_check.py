"""Load built book pages in headless Chromium and check images and rendered math.

Used by ``tests/test_book.py``; also runnable by hand::

    python tests/browser_check.py _build/html [--screenshots DIR]

For every HTML page under the build (search and index pages excepted), at a desktop width
(1280 px) and a phone width (400 px), it asserts: the page loads over a local HTTP server; every
``<img>`` has decoded (``naturalWidth > 0``); MathJax has typeset its math (``mjx-container``
elements exist wherever the page has math) and no raw TeX (``\\(``, ``\\[``, ``\\frac``,
``\\tag``) and no unrendered MyST role (``{glue``, ``{eq}``, ``{cite``, ``{numref``) is left in the
visible text; no display equation is cut (wider than its box or the column, scrolling or not, or drawn
under its number); no image has a file name (or nothing) as its alternative text; no build path (a
folder of the machine, ``/tmp/…``) is in the text; every exercise
solution is folded until clicked; no table or code block holds content a reader cannot reach (wider than a box
that does not scroll, or past the page's edge), and every one that scrolls sideways shows a shadow where more is
hidden; every figure of a chapter has a numbered caption and, at 1280 px,
is shown at (almost) its own size, so that its text stays at 9 pt or more, with two image pixels per
screen pixel (or as SVG); no output, text or
table, is wider than the column at 1280 px; no request left the machine. :func:`search_snippets` gives the
quotes the search page shows for a query (raw TeX in them is what a reader should not see).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bookkit.pdf import CHROMIUM_ARGS, chromium_path, serve, wait_for_math

RAW_TEX = ["\\(", "\\[", "\\frac", "\\tag", "\\begin{", "$$"]
RAW_MYST = ["{glue", "{eq}", "{cite", "{numref", "{ref}", "{doc}", "{term}"]  # roles that should have been rendered
WIDTHS = (1280, 400)
# The display equations that do not fit: math reaching past its own box or past the column (whether or not
# the box scrolls: a scrolled-away fraction is still cut for a reader who does not know to scroll), or an
# equation number outside the column or drawn over the math.
CUT_MATH_JS = """() => Array.from(document.querySelectorAll('mjx-container[display="true"]')).filter(m => {
    const box = m.getBoundingClientRect(), math = (m.querySelector('mjx-math') || m).getBoundingClientRect();
    const column = (m.closest('div.math') || m.parentElement).getBoundingClientRect();
    const wide = m.scrollWidth > m.clientWidth + 2 || math.right > Math.min(box.right, column.right) + 2
        || math.left < Math.max(box.left, column.left) - 2;
    const eqno = m.closest('div.math') && m.closest('div.math').querySelector('span.eqno');
    if (!eqno) return wide;
    const tag = eqno.getBoundingClientRect();
    const overlaps = tag.left < math.right - 1 && tag.right > math.left + 1 && tag.top < math.bottom - 1
        && tag.bottom > math.top + 1;
    return wide || overlaps || tag.right > column.right + 2 || tag.left < column.left - 2;
}).map(m => (m.getAttribute('aria-label') || m.textContent || '').slice(0, 40))"""
# Build paths (the machine's folders) in the visible text of a page: they mean nothing to a reader.
BUILD_PATH_JS = r"""() => ((document.querySelector('main') || document.body).innerText.match(
    /(?:^|[\s(='"])(\/(?:tmp|home|root|work|Users|private|var\/folders|opt|mnt)\/[^\s)'"]+)/g)
    || []).map(s => s.trim())"""
# Tables and code blocks whose content a reader cannot reach: wider than a box that clips it (overflow hidden, or a
# box that cannot scroll), or past the page's edge, with no box between that scrolls sideways to show the rest.
UNREACHABLE_JS = """() => {
    const scrolls = el => /^(auto|scroll)$/.test(getComputedStyle(el).overflowX);
    return Array.from(document.querySelectorAll('main table, main pre')).filter(e => {
        const r = e.getBoundingClientRect();
        if (r.width < 1 || r.height < 1) return false;  // folded away: a closed cell
        if (e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflowX !== 'visible'
            && !scrolls(e)) return true;
        let left = r.left, right = scrolls(e) ? r.right : r.left + Math.max(e.scrollWidth, r.width);
        for (let a = e.parentElement; a; a = a.parentElement) {
            if (getComputedStyle(a).overflowX === 'visible') continue;
            const box = a.getBoundingClientRect();
            if (right <= box.right + 2 && left >= box.left - 2) continue;
            if (!scrolls(a) || a.scrollWidth <= a.clientWidth + 1) return true;  // clipped there
            left = Math.max(left, box.left); right = Math.min(right, box.right);  // the rest scrolls into view
        }
        return right > document.documentElement.clientWidth + 2 || left < -2;  // past the page's edge
    }).map(e => e.tagName.toLowerCase() + ': ' + (e.innerText || '').trim().slice(0, 40));
}"""
# Boxes that scroll sideways, for a table or a code block, and hide content on the right with no cue: the shadow
# that _static/sgma-scroll.js and sgma.css draw (the frame's ::after), where a phone shows no scroll bar.
UNCUED_SCROLL_JS = """() => {
    const main = document.querySelector('main'), boxes = new Set();
    if (!main) return [];
    const scrolls = el => /^(auto|scroll)$/.test(getComputedStyle(el).overflowX);
    main.querySelectorAll('table, pre').forEach(e => {
        for (let a = e; a && a !== main; a = a.parentElement) if (scrolls(a)) { boxes.add(a); break; }
    });
    return Array.from(boxes).filter(b => b.getBoundingClientRect().width > 1 && b.scrollWidth > b.clientWidth + 2
            && b.scrollLeft < 1).filter(b => {
        const cue = getComputedStyle(b.parentElement, '::after');
        return !(cue.content !== 'none' && cue.backgroundImage !== 'none' && parseFloat(cue.opacity) > 0.5);
    }).map(b => b.tagName.toLowerCase() + ': ' + (b.innerText || '').trim().slice(0, 40));
}"""
SKIP = {"search.html", "genindex.html", "index.html"}
MIN_FIGURE_SCALE = 0.95  # figures are drawn at the column's width or less, with 9-10 pt text
MIN_DENSITY = 1.9  # figures are PNGs at twice their size in pixels (or SVG), sharp on a high-density screen


def pages(html_dir: Path) -> list[Path]:
    return sorted(p for p in html_dir.rglob("*.html") if p.name not in SKIP and "_static" not in p.parts)


def record_requests(page, base: str) -> tuple[list[str], list[str]]:
    """Two lists that fill as ``page`` loads: the addresses it asks for outside ``base`` (``data:`` URLs aside),
    and those whose request fails."""
    outside, failed = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:")) else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    return outside, failed


def check(html_dir: str | Path, screenshots: str | Path | None = None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir).resolve()
    reports = []
    with serve(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for page_path, width in ((p, w) for p in pages(html_dir) for w in WIDTHS):
            rel = page_path.relative_to(html_dir).as_posix()
            page = browser.new_page(viewport={"width": width, "height": 900})
            outside, failed = record_requests(page, base)
            page.goto(base + rel, wait_until="load")
            wait_for_math(page)
            info = page.evaluate("""() => ({
                images: Array.from(document.images)
                    .map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
                math_nodes: document.querySelectorAll('.math, span.math, div.math').length,
                mjx: document.querySelectorAll('mjx-container').length,
                text: document.querySelector('main') ? document.querySelector('main').innerText
                    : document.body.innerText,
                // solutions whose body shows before a click (they must be folded)
                solutions: document.querySelectorAll('.solution').length,
                open_solutions: Array.from(document.querySelectorAll('.solution')).filter(sol => {
                    const body = sol.querySelector('section');
                    return !sol.classList.contains('toggle-hidden')
                        || (body && body.getBoundingClientRect().height > 0);
                }).map(sol => sol.id),
                cut_math: (""" + CUT_MATH_JS + """)(),
                // figures drawn by the chapters: shown at what share of their own width, and captioned?
                // images whose alternative text is a file name (a screen reader reads it out)
                filename_alts: Array.from(document.querySelectorAll('main img')).filter(i => {
                    const alt = (i.getAttribute('alt') || '').trim();
                    return !alt || /\\.(png|jpe?g|svg|gif|webp)$/i.test(alt) || alt === i.getAttribute('src');
                }).map(i => i.getAttribute('src')),
                build_paths: (""" + BUILD_PATH_JS + """)(),
                unreachable: (""" + UNREACHABLE_JS + """)(),
                uncued_scroll: (""" + UNCUED_SCROLL_JS + r""")(),
                figures: Array.from(document.querySelectorAll('main .cell_output img')).map(i => ({
                    src: i.getAttribute('src'),
                    // shown at what share of the size it was drawn at (a high-density PNG says it in its style)
                    scale: i.naturalWidth ? i.clientWidth / (parseFloat(i.style.width) || i.naturalWidth) : 0,
                    density: i.clientWidth ? i.naturalWidth / i.clientWidth : 0,
                    svg: /\.svg$/i.test(i.getAttribute('src') || ''),
                    caption: !!(i.closest('figure') && i.closest('figure').querySelector('figcaption'))})),
                // command and text blocks of the prose whose lines run past their box (they must wrap)
                clipped_commands: Array.from(document.querySelectorAll(
                        'main div[class*="highlight-text"] pre, main div[class*="highlight-bash"] pre'))
                    .filter(e => e.scrollWidth > e.clientWidth + 2).map(e => (e.innerText || '').slice(0, 40)),
                // outputs (text and tables) wider than the column, which a reader must scroll sideways
                wide_outputs: Array.from(document.querySelectorAll('main .cell_output pre, main .cell_output table'))
                    .filter(e => e.getBoundingClientRect().width > 1 && e.scrollWidth > e.parentElement.clientWidth + 2)
                    .map(e => e.tagName.toLowerCase() + ': ' + (e.innerText || '').slice(0, 40)),
            })""")
            if screenshots:
                Path(screenshots).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(screenshots) / (rel.replace("/", "_") + f"-{width}.png")), full_page=True)
            page.close()
            raw = [t for t in RAW_TEX + RAW_MYST if t in info["text"]]
            reports.append({"page": rel, "width": width, "images": len(info["images"]), "cut_math": info["cut_math"],
                            "solutions": info["solutions"], "open_solutions": info["open_solutions"],
                            "figures": info["figures"], "wide_outputs": info["wide_outputs"],
                            "filename_alts": info["filename_alts"], "build_paths": sorted(set(info["build_paths"])),
                            "clipped_commands": info["clipped_commands"], "unreachable": info["unreachable"],
                            "uncued_scroll": info["uncued_scroll"],
                            "broken_images": [i["src"] for i in info["images"] if not i["ok"]],
                            "math_nodes": info["math_nodes"], "mathjax_containers": info["mjx"],
                            "raw_tex": raw, "outside_requests": sorted(set(outside)),
                            "failed_requests": sorted(set(failed))})
        browser.close()
    return reports


def search_snippets(html_dir: str | Path, query: str) -> list[str]:
    """The quotes the book's search page shows under its results for ``query``, once every result has its quote."""
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    with serve(Path(html_dir).resolve()) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}search.html?q={quote(query)}", wait_until="load")
        page.wait_for_function("""() => /finished|did not match/.test(
            (document.querySelector('#search-results .search-summary') || {}).textContent || '')""", timeout=60_000)
        page.wait_for_load_state("networkidle")  # the last result's quote comes with its page
        quotes = page.eval_on_selector_all("#search-results p.context", "ps => ps.map(p => p.textContent)")
        browser.close()
    return quotes


def problems(reports: list[dict]) -> list[str]:
    out = []
    for r in reports:
        if r["broken_images"]:
            out.append(f"{r['page']}: images did not load: {r['broken_images']}")
        if r["math_nodes"] and not r["mathjax_containers"]:
            out.append(f"{r['page']}: {r['math_nodes']} math nodes but MathJax typeset none")
        if r["raw_tex"]:
            out.append(f"{r['page']} at {r['width']} px: raw TeX or MyST left on the page: {r['raw_tex']}")
        if r["open_solutions"]:
            out.append(f"{r['page']} at {r['width']} px: solutions shown before a click: {r['open_solutions'][:3]}")
        if r["cut_math"]:
            out.append(f"{r['page']} at {r['width']} px: display equations cut (wider than their box or the column, "
                       f"or under their number): {r['cut_math'][:3]}")
        if r["filename_alts"]:
            out.append(f"{r['page']}: images whose alternative text is a file name or empty: {r['filename_alts'][:3]}")
        if r["clipped_commands"]:
            out.append(f"{r['page']} at {r['width']} px: command blocks cut at their edge: {r['clipped_commands'][:3]}")
        if r["unreachable"]:
            out.append(f"{r['page']} at {r['width']} px: tables or code blocks whose content a reader cannot reach "
                       f"(wider than a box that does not scroll, or past the page's edge): {r['unreachable'][:3]}")
        if r["uncued_scroll"]:
            out.append(f"{r['page']} at {r['width']} px: tables or code blocks that scroll sideways with no shadow "
                       f"showing that more is hidden: {r['uncued_scroll'][:3]}")
        if r["build_paths"]:
            out.append(f"{r['page']} at {r['width']} px: build paths in the text: {r['build_paths'][:3]}")
        if r["width"] == max(WIDTHS):  # at a desktop width nothing is shrunk or scrolls sideways
            blurry = [f["src"] for f in r["figures"] if not f["svg"] and f["density"] < MIN_DENSITY]
            if blurry:
                out.append(f"{r['page']} at {r['width']} px: figures with fewer than {MIN_DENSITY} image pixels per "
                           f"screen pixel (blurry on a high-density screen): {blurry[:3]}")
            shrunk = [f["src"] for f in r["figures"] if f["scale"] < MIN_FIGURE_SCALE]
            if shrunk:
                out.append(f"{r['page']} at {r['width']} px: figures shrunk below {MIN_FIGURE_SCALE:.0%} of their size "
                           f"(text under 9 pt): {shrunk[:3]}")
            if r["wide_outputs"]:
                out.append(f"{r['page']} at {r['width']} px: outputs wider than the column: {r['wide_outputs'][:3]}")
        uncaptioned = [f["src"] for f in r["figures"] if not f["caption"]]
        if uncaptioned and r["page"].startswith("book/_executed/"):
            out.append(f"{r['page']}: figures without a numbered caption: {uncaptioned[:3]}")
        if r["outside_requests"]:
            out.append(f"{r['page']}: requests left the machine: {r['outside_requests'][:3]}")
        if r["failed_requests"]:
            out.append(f"{r['page']}: failed requests: {r['failed_requests'][:3]}")
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("html_dir")
    p.add_argument("--screenshots")
    args = p.parse_args()
    reports = check(args.html_dir, args.screenshots)
    print(json.dumps(reports, indent=1))
    bad = problems(reports)
    for line in bad:
        print("PROBLEM:", line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
