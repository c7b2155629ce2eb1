"""The book itself: sources in sync, every chapter executed by papermill on the smoke profile,
a -W build of that smoke book, and the built pages checked in headless Chromium."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from bookkit.chapters import execute_chapter
from bookkit.sources import CHAPTERS
from sgma_core.paths import repo_root

pytestmark = pytest.mark.book
ROOT = repo_root()


def test_paths_named_in_the_introduction_exist():
    text = (ROOT / "book" / "00_introduction.md").read_text()
    named = set(re.findall(r"`((?:sgma_core|bookkit|tests|data_prep)/[\w/]+\.py)`", text))
    assert named, "the introduction's map names no modules or tests"
    for rel in named:
        assert (ROOT / rel).is_file(), f"the introduction names {rel}, which does not exist"


def test_unknown_chapter_parameter_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no parameter 'epochz'.*profile"):
        execute_chapter("02_baseline", tmp_path, {"epochz": 3})


@pytest.fixture(scope="module")
def smoke_book(tiny_root, tmp_path_factory):
    """A copy of the book's sources with every chapter executed on the smoke profile, built with -W."""
    site = tmp_path_factory.mktemp("book") / "site"
    # the whole working tree but what is generated: the build must see what `make html` sees
    shutil.copytree(ROOT, site, ignore=shutil.ignore_patterns(".git", ".venv", "_build", "runs", "data", "_executed",
                                                               "__pycache__"))
    roots = os.pathsep.join([str(tiny_root), os.environ.get("SGMA_DATA_ROOT", "")]).rstrip(os.pathsep)
    out = site / "book" / "_executed"
    for name in CHAPTERS:
        execute_chapter(name, out, {"profile": "smoke", "data_root": roots, "runs_dir": str(site / "runs")},
                        strict=False)
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(site), "-W", "--quiet"],
                           capture_output=True, text=True)
    assert build.returncode == 0, f"jupyter-book build -W failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    return site


def test_executed_notebooks_carry_injected_parameters(smoke_book):
    nb = nbformat.read(smoke_book / "book" / "_executed" / "02_baseline.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'profile = "smoke"' in injected[0].source
    assert "remove-cell" in injected[0].metadata["tags"]  # kept in the notebook, not shown on the page
    assert nb.metadata["papermill"]["parameters"]["profile"] == "smoke"
    assert nb.metadata["sgma"]["chapter"] == "02_baseline"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def test_html_has_every_chapter_with_figures(smoke_book):
    html = smoke_book / "_build" / "html"
    for name in CHAPTERS:
        assert (html / "book" / "_executed" / f"{name}.html").is_file()
    baseline = (html / "book" / "_executed" / "02_baseline.html").read_text()
    assert "<img" in baseline and "smoke" in baseline
    assert str(smoke_book / "runs") not in baseline  # papermill's injected cell (runs_dir = that folder) is not shown
    assert "mathjax/tex-chtml.js" in baseline and "cdn.jsdelivr" not in baseline
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert len(list((html / "_images").glob("*.png"))) >= 3


def test_no_page_or_notebook_names_a_folder_of_the_machine(smoke_book, tiny_root):
    """Every built page and every notebook a reader can download, scanned for the repository's folder (here the
    build's copy of it), the runs and data folders, the Python environment, a home or a temporary folder."""
    from bookkit.machine_paths import machine_folders, scan_published

    folders = machine_folders([smoke_book, smoke_book / "runs", tiny_root])
    found = [line for sub in ("html", "downloads") for line in scan_published(smoke_book / "_build" / sub, folders)]
    assert not found, "machine paths published (file: text):\n" + "\n".join(found[:20])


def test_pages_load_with_images_and_rendered_math(smoke_book):
    from tests.browser_check import check, chromium_path, problems

    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required on CI for the browser check (make test installs it as root)")
        pytest.skip("Chromium not installed (apt-get install chromium); the browser check needs it")
    reports = check(smoke_book / "_build" / "html")
    chapters = [r for r in reports if r["page"].startswith("book/_executed/")]
    assert len(chapters) == 2 * len(CHAPTERS)  # every chapter at 1280 px and at 400 px
    assert any(r["page"] == "book/references.html" for r in reports)
    assert sum(r["images"] for r in reports) >= 3
    assert all(r["mathjax_containers"] > 0 for r in chapters)
    assert sum(r["solutions"] for r in chapters if r["width"] == 1280) >= 3  # and problems() says none shows
    assert problems(reports) == []


def test_pages_read_as_prose_not_as_program_output(smoke_book):
    from bookkit.wording import page_prose, prose_defects

    html = smoke_book / "_build" / "html"
    found = {str(page.relative_to(html)): defects for page in sorted((html / "book").rglob("*.html"))
             if (defects := prose_defects(page_prose(page.read_text(encoding="utf-8"))))}
    assert not found, found


@pytest.mark.parametrize("query", ["attention", "compatibility"])
def test_the_search_page_quotes_math_as_text(smoke_book, query):
    from tests.browser_check import RAW_TEX, chromium_path, search_snippets

    if chromium_path() is None:
        pytest.skip("Chromium not installed (apt-get install chromium); the browser check needs it")
    quotes = search_snippets(smoke_book / "_build" / "html", query)
    assert quotes, f"the search for {query!r} found no page"
    raw = [q for q in quotes if any(t in q for t in RAW_TEX)]
    assert not raw, raw[:2]


def test_every_citation_is_in_the_bibliography_and_every_entry_is_cited():
    import re

    keys = set(re.findall(r"@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(encoding="utf-8")))
    cited = {k.strip() for path in (ROOT / "book").glob("[0-9]*.md")
             for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text(encoding="utf-8"))
             for k in group.split(",")}
    assert cited and cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"
    assert keys <= cited, f"in references.bib but cited nowhere: {sorted(keys - cited)}"


def test_the_book_prints_to_one_pdf(smoke_book, tmp_path):
    from bookkit.pdf import count_pages, print_book
    from tests.browser_check import chromium_path

    if chromium_path() is None:
        pytest.skip("Chromium not installed (apt-get install chromium); make pdf needs it")
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(smoke_book), "--builder",
                            "singlehtml", "--quiet"], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    # the one page
    page = (smoke_book / "_build" / "singlehtml" / "book" / "_executed" / "00_introduction.html").read_text()
    assert all(f"Answers to the session {n} quiz" in page for n in (1, 2, 3))  # the printed book has the answers
    guide = (smoke_book / "_build" / "html" / "book" / "course_guide.html").read_text()
    assert "Why is ZSL accuracy averaged per class" in guide and "Answers to the session" not in guide
    assert "a per-image mean would reward" not in guide  # no answer on the web page
    info = print_book(smoke_book / "_build" / "singlehtml", tmp_path / "book.pdf")
    data = (tmp_path / "book.pdf").read_bytes()
    assert data.startswith(b"%PDF") and info["bytes"] == len(data)
    assert info["pages"] == count_pages(data) >= 2 * len(CHAPTERS)  # every chapter takes pages of its own
    assert not list((smoke_book / "_build" / "singlehtml").glob("_print-*.html"))  # the printed copy is removed
    assert info["solutions"] >= 10  # the instructor's PDF has them; the students' has none, and fewer pages
    (smoke_book / "_build" / "singlehtml" / "_print-999999.html").write_text("<p>left by a killed print</p>")
    student = print_book(smoke_book / "_build" / "singlehtml", tmp_path / "student.pdf", solutions=False)
    assert student["solutions"] == 0 and student["pages"] < info["pages"]


def test_the_real_bird_chapter_skips_cleanly_without_cub(tiny_root, tmp_path, monkeypatch):
    from bookkit.display import glued_values

    monkeypatch.setenv("SGMA_DATA_ROOT", str(tiny_root))  # a user's fresh machine: synthetic data only
    notebook = execute_chapter("07_real_birds", tmp_path,
                               {"data_root": str(tiny_root), "runs_dir": str(tmp_path / "runs")})
    glued = glued_values(notebook)
    assert "no CUB photographs" in glued["skip_sentence"] and glued["n_images"] == "0"
    assert glued["frozen_sentence"].startswith("Nothing was run here")


BUTTON_HOSTS = re.compile(r'href="https://(colab\.research\.google\.com|mybinder\.org|github\.com)/[^"]*"')


def test_repository_and_launch_buttons_only_where_the_build_knows_the_repository(smoke_book, tmp_path):
    plain = (smoke_book / "_build" / "html" / "book" / "_executed" / "04_sgma_training.html").read_text()
    assert not BUTTON_HOSTS.search(plain)
    assert re.search(r'class="sgma-provenance">Version \d+\.\d+\.\d+, built from commit [^<]+ '
                     r'on \d{4}-\d\d-\d\d', plain)
    env = dict(os.environ, GITHUB_REPOSITORY="octocat/sgma-book")
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(smoke_book), "-W",
                            "--quiet", "--path-output", str(tmp_path)], capture_output=True, text=True, env=env)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    page = (tmp_path / "_build" / "html" / "book" / "_executed" / "04_sgma_training.html").read_text()
    links = set(m.group(0) for m in BUTTON_HOSTS.finditer(page))
    assert ('href="https://colab.research.google.com/github/octocat/sgma-book/blob/notebooks/'
            '04_sgma_training.ipynb"') in links
    assert 'href="https://mybinder.org/v2/gh/octocat/sgma-book/main?urlpath=lab/tree/book/04_sgma_training.md"' in links
    assert 'href="https://github.com/octocat/sgma-book/edit/main/book/04_sgma_training.md"' in links
    assert 'href="https://github.com/octocat/sgma-book"' in links
    guide = (tmp_path / "_build" / "html" / "book" / "course_guide.html").read_text()
    assert "mybinder.org" not in guide and "colab.research" not in guide  # no notebook to launch there
    setup = (tmp_path / "_build" / "html" / "book" / "setup.html").read_text()
    assert "git clone https://github.com/octocat/sgma-book sgma-book" in setup and "sgma-no-address" not in setup


def test_the_set_up_page_of_a_plain_build_says_where_the_repository_is_named(smoke_book):
    """The smoke build knows no repository (no GITHUB_REPOSITORY, no git remote): the clone command has a
    placeholder and the page says where the address is found."""
    import html as html_text

    from bookkit.publish import NO_ADDRESS

    page = html_text.unescape((smoke_book / "_build" / "html" / "book" / "setup.html").read_text())
    assert f"git clone {NO_ADDRESS} sgma-book" in page
    note = re.sub(r"<[^>]+>", "", page.split('class="sgma-no-address', 1)[1].split("</div>", 1)[0])
    assert "git remote get-url origin" in note and "GitHub button" in note


@pytest.mark.parametrize("kind", ["student", "executed"])
def test_downloaded_notebooks_render_in_plain_jupyter(smoke_book, kind):
    """nbconvert (what Jupyter, VS Code and GitHub render) finds no MyST role or directive in a downloaded notebook."""
    from nbconvert import MarkdownExporter

    from bookkit.plain_markdown import MYST_LEFT

    folder = smoke_book / "_build" / "downloads" / kind
    notebooks = sorted(folder.glob("*.ipynb"))
    assert [p.stem for p in notebooks] == list(CHAPTERS)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:  # code may hold braces and backticks (f-strings); only Markdown and outputs count
            if cell.cell_type == "code":
                cell.source = ""
        rendered, _ = MarkdownExporter().from_notebook_node(nb)
        left = sorted({m.group(0) for m in MYST_LEFT.finditer(rendered)})
        assert not left, f"{path.name} ({kind}) still carries MyST: {left}"
        if kind == "executed":
            assert "computed by this notebook" not in rendered  # every glued value written in
            assert "**Solution.**" in rendered or "Exercise:" not in rendered
        else:
            assert "**Solution.**" not in rendered


PAGE = "<!doctype html><html><body><main>{}</main></body></html>"
FITS = ('<div class="math" style="display:flex;flex-direction:row-reverse;width:600px"><span class="eqno">(4)</span>'
        '<mjx-container jax="CHTML" display="true" style="display:block;flex-grow:1;overflow-x:auto">'
        '<mjx-math style="display:inline-block;width:{}px">x</mjx-math></mjx-container></div>')


WIDE_ROW = '<table><tr><td style="white-space:nowrap">{}</td></tr></table>'.format("a wide table cell " * 12)
LONG_CODE = "x = compute(a, b, c)  " * 12
# The book's scroll cue: its style sheet and the script that frames each box that scrolls sideways.
CUED = '<link rel="stylesheet" href="sgma.css"><script src="sgma-scroll.js"></script>'


@pytest.mark.parametrize("body, expected", [
    (f'<div style="width:300px;overflow:hidden">{WIDE_ROW}</div>', "content a reader cannot reach"),  # clipped
    (f'<pre style="width:200px;overflow:hidden">{LONG_CODE}</pre>', "content a reader cannot reach"),
    (WIDE_ROW, "content a reader cannot reach"),  # runs past the page's edge at 400 px
    (f'<div style="width:300px;overflow-x:auto">{WIDE_ROW}</div>', "scroll sideways with no shadow"),
    (FITS.replace("{}", "900"), "display equations cut"),  # scrolls inside its box, and is still cut
    ('<img src="a.png" alt="_images/0a1b2c.png">', "alternative text is a file name"),
    ('<p>data roots searched: /tmp/pytest-of-ci/data</p>', "build paths in the text"),
    ('<div class="highlight-text notranslate"><pre style="white-space:pre;width:200px;overflow-x:auto">'
     + "python -m bookkit.chapters 04_sgma_training -p overrides '{centre_rule: learned}'" + '</pre></div>',
     "command blocks cut at their edge"),
])
def test_the_browser_check_fails_on_a_cut_equation_a_file_name_alt_a_build_path_and_an_unreachable_table(
        tmp_path, body, expected):
    """The good page has a table and a code block wider than their boxes that scroll, with the book's cue."""
    from PIL import Image

    from tests.browser_check import check, chromium_path, problems

    if chromium_path() is None:
        pytest.skip("Chromium not installed (apt-get install chromium); the browser check needs it")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    for name in ("sgma.css", "sgma-scroll.js"):
        shutil.copy(ROOT / "_static" / name, tmp_path / name)
    (tmp_path / "bad.html").write_text(PAGE.format(body))
    (tmp_path / "good.html").write_text(PAGE.format(
        CUED + FITS.replace("{}", "200") + '<img src="a.png" alt="A bird.">'
        + f'<div style="width:300px;overflow-x:auto">{WIDE_ROW}</div><pre style="width:200px;overflow-x:auto">'
        + LONG_CODE + "</pre>"))
    found = problems(check(tmp_path))
    assert any(p.startswith("bad.html") and expected in p for p in found), found
    assert not any(p.startswith("good.html") for p in found), found


SEARCHED_PAGE = ('<div role="main"><p>The score of a class is <span class="math notranslate nohighlight">'
                 r'\(s_y = \theta^\top W \phi(y)\)</span> with attention maps '
                 r'<span class="math notranslate nohighlight">\(M_i \in \mathbb{R}^{H \times W}\)</span>:</p>'
                 r'<div class="math notranslate nohighlight">\[\begin{aligned} L = \frac{1}{N} \sum_i \ell_i'
                 r' \tag{9}\end{aligned}\]</div></div>')


def test_a_search_quote_shows_math_as_text_not_tex(tmp_path):
    """Sphinx's search quotes a page's HTML as stored, before MathJax typesets it; the book's script writes the math
    of the quote as text. Sphinx's own searchtools.js makes the quote, as on the book's search page."""
    import sphinx
    from playwright.sync_api import sync_playwright

    from bookkit.pdf import CHROMIUM_ARGS
    from tests.browser_check import RAW_TEX, chromium_path

    if chromium_path() is None:
        pytest.skip("Chromium not installed (apt-get install chromium); the browser check needs it")
    shutil.copy(Path(sphinx.__file__).parent / "themes" / "basic" / "static" / "searchtools.js", tmp_path)
    shutil.copy(ROOT / "_static" / "sgma-search.js", tmp_path)
    (tmp_path / "search.html").write_text('<!doctype html><html><head><meta charset="utf-8">'
                                          '<script>const _ready = () => {};</script>'
                                          '<script src="searchtools.js"></script>'
                                          '<script src="sgma-search.js"></script></head><body></body></html>')
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((tmp_path / "search.html").as_uri(), wait_until="load")
        quote = page.evaluate("html => Search.makeSearchSummary(html, ['score'], '').textContent", SEARCHED_PAGE)
        browser.close()
    assert ("class is s_y = θ^⊤ W φ(y) with" in quote and "M_i ∈ ℝ^H × W" in quote
            and "L = (1)/(N) Σ_i ℓ_i" in quote), quote
    assert not [t for t in RAW_TEX if t in quote], quote


def test_every_glossary_term_is_linked_from_a_chapter():
    glossary = (ROOT / "book" / "glossary.md").read_text()
    block = glossary.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    terms = [line.strip() for line in block.splitlines() if line and not line.startswith(" ")]
    chapters = "\n".join((ROOT / "book" / f"{name}.md").read_text() for name in CHAPTERS)
    linked = set(re.findall(r"\{term\}`(?:[^`<]*<)?([^`<>]+)>?`", chapters))
    assert terms and set(terms) <= linked, f"glossary terms no chapter links: {sorted(set(terms) - linked)}"


def test_the_glossary_defines_the_terms_chapter_06_and_its_quiz_use():
    glossary = (ROOT / "book" / "glossary.md").read_text()
    block = glossary.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    terms = {line.strip() for line in block.splitlines() if line and not line.startswith(" ")}
    assert {"Part-box score", "Oracle", "Control", "Paired standard error"} <= terms, sorted(terms)
