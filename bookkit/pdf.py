"""The whole book as one PDF, for handouts: ``python -m bookkit.pdf SINGLEHTML_DIR OUT.pdf
[--no-solutions]``.

``make pdf`` builds the book as a single HTML page (Jupyter Book's ``singlehtml`` builder, from the
executed chapters) and prints that page with headless Chromium, the browser the tests already
use: served from a local HTTP server, MathJax typeset before printing, A4, backgrounds on. Nothing
leaves the machine. Needs Playwright (the test extra) and Chromium (``apt-get install chromium``;
``SGMA_CHROMIUM`` names another binary).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

from sgma_core.cli import add_debug_flag, command
from sgma_core.files import save_atomically

PRINT_COPY = "_print-"  # the page's copy at the build's root that Chromium prints: _print-<pid>.html

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# What a printed page does not need (the sidebars, the header bar, the buttons, the footer), and code that
# wraps instead of running off the paper.
PRINT_CSS = """
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .header-article, .prev-next-area, footer,
.bd-footer, .bd-footer-article, .bd-footer-content, .headerlink, .toggle-secondary-sidebar { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
mjx-container[display="true"] { overflow: visible !important; }
div.highlight pre, .output pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def chromium_path() -> str | None:
    """The Chromium (or Chrome) binary: ``$SGMA_CHROMIUM``, else the first of the usual names on the PATH."""
    for name in (os.environ.get("SGMA_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def chromium() -> str:
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no Chromium found: install it (apt-get install chromium) or set SGMA_CHROMIUM "
                                "to a Chromium or Chrome binary.")
    return path


@contextlib.contextmanager
def serve(root: str | Path):
    """A local HTTP server for the files under ``root``; yields its base URL (ends with ``/``)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def wait_for_math(page, timeout_s: float = 20.0) -> None:
    """Wait until MathJax has typeset a loaded page (pages without math load no MathJax: nothing to wait for)."""
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=timeout_s * 1000)
        page.evaluate("() => MathJax.startup.promise")


def count_pages(pdf: bytes) -> int:
    """Pages of a PDF as Chromium writes it (one ``/Type /Page`` object per page)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


# The student handout: every exercise kept, every solution left out.
NO_SOLUTIONS_CSS = ".solution, div.solution, details.solution { display: none !important; }"


def print_book(singlehtml: str | Path, out: str | Path, timeout_s: float = 120.0, solutions: bool = True) -> dict:
    """Print the one page of a singlehtml build to ``out``; returns ``{"path", "pages", "bytes", "solutions"}``
    (the number of solutions printed).
    ``solutions=False`` leaves the exercises' solutions out (the students' handout)."""
    from playwright.sync_api import sync_playwright

    root = Path(singlehtml).resolve()
    pages = sorted(root.glob("**/*.html"))
    # index.html only redirects; a print copy (PRINT_COPY) left by an interrupted print is not a page of the book
    pages = [p for p in pages if p.name != "index.html" and "_static" not in p.parts
             and not p.name.startswith(PRINT_COPY)] or pages
    if not pages:
        raise FileNotFoundError(f"no HTML page under {root}: build it first "
                                "(jupyter-book build . --builder singlehtml, or make pdf).")
    if len(pages) > 1:
        raise ValueError(f"{root} holds {len(pages)} pages, not one: is it a singlehtml build? ({pages[0].name}, …)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The singlehtml builder links the page's assets (_static/, _images/) as if the page lay at the root of
    # the build, where Jupyter Book does not put it (index.html only redirects); a copy at the root finds them.
    printed = root / f"{PRINT_COPY}{os.getpid()}.html"
    printed.write_bytes(pages[0].read_bytes())
    try:
        with serve(root) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.goto(base + printed.name, wait_until="load", timeout=timeout_s * 1000)
            wait_for_math(page, timeout_s)
            page.add_style_tag(content=PRINT_CSS)
            if not solutions:
                page.add_style_tag(content=NO_SOLUTIONS_CSS)
            shown = page.evaluate("() => Array.from(document.querySelectorAll('.solution'))"
                                  ".filter(s => s.getBoundingClientRect().height > 0).length")
            page.emulate_media(media="print")
            save_atomically(out, lambda p: page.pdf(path=str(p), format="A4", print_background=True, margin={
                "top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"}))
            browser.close()
    finally:
        printed.unlink(missing_ok=True)
    data = out.read_bytes()
    return {"path": str(out), "pages": count_pages(data), "bytes": len(data), "solutions": shown}


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bookkit.pdf", description=__doc__.split("\n\n")[0])
    p.add_argument("singlehtml", help="the singlehtml build folder (holds index.html)")
    p.add_argument("out", help="the PDF to write")
    p.add_argument("--no-solutions", action="store_true", help="leave the exercises' solutions out (students' handout)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    info = print_book(args.singlehtml, args.out, solutions=not args.no_solutions)
    print(f"wrote {info['path']}: {info['pages']} pages, {info['bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
