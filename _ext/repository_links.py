"""Where the published book comes from: repository, issue, edit and launch buttons, and the footer.

The repository is not written into ``_config.yml``: it comes from the build's environment, so a fork
publishes with its own address and a book built on a laptop shows no button that points nowhere.

- ``GITHUB_REPOSITORY=owner/name`` (GitHub Actions sets it): repository, issue and edit buttons
  (sphinx-book-theme's own) for ``https://github.com/owner/name``, and on every chapter Binder and Colab
  launch buttons. Unset: none of them.
- The edit button of a chapter opens its MyST source, ``book/NN_name.md`` (the page itself is rendered
  from the executed notebook, which is not in the repository). Binder opens the same source on the
  book's branch (jupytext reads it as a notebook; ``postBuild`` generates the synthetic birds there).
  Colab opens the chapter's *student* notebook, which the publishing workflow keeps on the
  ``notebooks`` branch (``.github/workflows/book.yml``).
- The footer of every page names the book's version, the commit it was built from and the build date
  (UTC; ``SOURCE_DATE_EPOCH`` fixes it for a reproducible build).
- The set-up page's ``clone-commands`` block names the repository's web address wherever the build knows it:
  from ``GITHUB_REPOSITORY``, or else from the ``origin`` remote of the checkout it is built from
  (:func:`bookkit.publish.repository_address`). A build that knows neither says where to find it.

``SGMA_BOOK_BRANCH`` names the branch the buttons point to (default ``main``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

from bookkit.publish import (
    BINDER,
    COLAB,
    NO_ADDRESS_NOTE,
    build_provenance,
    chapter_urls,
    clone_commands,
    repository_address,
    repository_from_environment,
)

CHAPTER = re.compile(r"^book/_executed/(?P<name>\d\d_[a-z0-9_]+)$")


def footer_html(provenance: dict[str, str], repository: str | None) -> str:
    commit = provenance["commit"]
    if repository and re.fullmatch(r"[0-9a-f]{7}", commit):
        commit = f'<a href="https://github.com/{repository}/commit/{commit}">{commit}</a>'
    licence = (f'<a href="https://github.com/{repository}/blob/main/LICENSE">MIT licence</a>' if repository
               else "MIT licence")
    return (f'<p class="sgma-provenance">Version {provenance["version"]}, built from commit {commit} '
            f'on {provenance["date"]}; {licence}.</p>')


def _configure(app, config) -> None:
    repository = repository_from_environment()
    options = config.html_theme_options
    options["extra_footer"] = footer_html(build_provenance(Path(app.srcdir)), repository)
    app.env_sgma_repository = repository  # read by _chapter_buttons
    config.sgma_repository_address = repository_address(Path(app.srcdir))  # read by CloneCommands
    if repository is None:
        for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
            options[key] = False
        options.pop("repository_url", None)
        options["launch_buttons"] = {}
        return
    options.update(repository_url=f"https://github.com/{repository}", path_to_docs="",
                   repository_branch=os.environ.get("SGMA_BOOK_BRANCH", "main"), use_repository_button=True,
                   use_issues_button=True, use_edit_page_button=True,
                   launch_buttons={"binderhub_url": BINDER, "colab_url": COLAB, "notebook_interface": "jupyterlab"})


def _retarget(buttons: list, urls: dict[str, str]) -> None:
    for button in buttons:
        if button.get("type") == "group":
            _retarget(button.get("buttons", []), urls)
        elif button.get("text") in urls:
            button["url"] = urls[button["text"]]
        elif button.get("label") == "source-edit-button":  # sphinx-book-theme's "Suggest edit"
            button["url"] = urls["edit"]


def _chapter_buttons(app, pagename, templatename, context, doctree) -> None:
    repository = getattr(app, "env_sgma_repository", None)
    found = CHAPTER.match(pagename)
    if repository is None:
        return
    if not found:  # pages that are not chapters (course guide, glossary) have no notebook to launch
        for group in context.get("header_buttons", []):
            if group.get("label") == "launch-buttons":
                context["header_buttons"].remove(group)
                break
        return
    branch = app.config.html_theme_options["repository_branch"]
    urls = chapter_urls(repository, branch, found["name"])
    _retarget(context.get("header_buttons", []), urls)


class CloneCommands(Directive):
    """A block of set-up commands whose ``{repository}`` is the repository's web address where the build knows it;
    otherwise a placeholder, and a note under the block saying where the address is found."""

    has_content = True

    def run(self):
        address = self.state.document.settings.env.config.sgma_repository_address
        text = clone_commands("\n".join(self.content), address)
        out = [nodes.literal_block(text, text, language="text")]
        if address is None:
            note = nodes.container(classes=["sgma-no-address"])
            self.state.nested_parse(StringList([NO_ADDRESS_NOTE], source="clone-commands"), self.content_offset, note)
            out.append(note)
        return out


def setup(app):
    # the address is read when a page is, so a build that learns another one reads the pages again ("env")
    app.add_config_value("sgma_repository_address", None, "env")
    app.add_directive("clone-commands", CloneCommands)
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _chapter_buttons, priority=900)  # after the theme has made its buttons
    return {"parallel_read_safe": True, "parallel_write_safe": True}
