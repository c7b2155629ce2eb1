"""What the published book says about where it comes from: the repository from GITHUB_REPOSITORY, the
buttons' addresses, the footer's version, commit and date, the licence, CITATION.cff, the student
notebook's Colab set-up cell and the links of the references."""

import re
import subprocess
import sys

import pytest
import yaml

from bookkit.publish import RepositoryError, build_provenance, chapter_urls, colab_setup, repository_from_environment
from sgma_core.paths import repo_root

ROOT = repo_root()


@pytest.mark.parametrize("value", ["", "  "])
def test_no_repository_without_github_repository(value):
    assert repository_from_environment({}) is None
    assert repository_from_environment({"GITHUB_REPOSITORY": value}) is None


def test_owner_and_name_are_read():
    assert repository_from_environment({"GITHUB_REPOSITORY": "octocat/sgma-book"}) == "octocat/sgma-book"


@pytest.mark.parametrize("value", ["octocat", "https://github.com/octocat/sgma-book", "a/b/c", "-x/y", "o/na me"])
def test_something_else_is_refused_with_the_value(value):
    with pytest.raises(RepositoryError, match=re.escape(repr(value))):
        repository_from_environment({"GITHUB_REPOSITORY": value})


def test_a_chapter_is_edited_in_its_source_and_launched_from_source_or_student_notebook():
    urls = chapter_urls("octocat/sgma-book", "main", "04_sgma_training")
    assert urls["edit"] == "https://github.com/octocat/sgma-book/edit/main/book/04_sgma_training.md"
    assert urls["Binder"] == "https://mybinder.org/v2/gh/octocat/sgma-book/main?urlpath=lab/tree/book/04_sgma_training.md"
    assert urls["Colab"] == ("https://colab.research.google.com/github/octocat/sgma-book/blob/notebooks/"
                             "04_sgma_training.ipynb")


def test_the_workflow_publishes_the_notebooks_that_colab_opens():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    upload = [s for s in wf["jobs"]["build"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload and upload[0]["with"]["path"] == "_build/downloads/student/*.ipynb"
    job = wf["jobs"]["notebooks"]
    assert job["needs"] == "build" and "refs/heads/main" in job["if"]
    assert job["permissions"] == {"contents": "write"}
    assert "git push -f" in job["steps"][-1]["run"] and " notebooks" in job["steps"][-1]["run"]


def test_provenance_names_version_commit_and_a_fixed_date(monkeypatch):
    env = {"SOURCE_DATE_EPOCH": "1764547200"}  # 2025-12-01 00:00 UTC
    found = build_provenance(ROOT, env)
    assert found["date"] == "2025-12-01"
    assert re.fullmatch(r"\d+\.\d+\.\d+", found["version"])
    head = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert found["commit"].startswith(head.stdout.strip())
    assert build_provenance(ROOT, {"GITHUB_SHA": "0123456789abcdef"})["commit"] == "0123456"


def test_provenance_outside_a_checkout_says_so(tmp_path):
    assert build_provenance(tmp_path, {})["commit"].startswith("unknown")


def test_the_student_notebook_installs_the_book_on_colab_only_when_it_knows_the_repository():
    kind, source = colab_setup("octocat/sgma-book")
    assert kind == "code" and "https://github.com/octocat/sgma-book" in source
    compile(source, "setup", "exec")  # plain Python: no IPython magics that a linter or a script would trip on
    assert 'if "google.colab" in sys.modules' in source
    kind, source = colab_setup(None)
    assert kind == "markdown" and "Colab" in source


def test_the_licence_is_the_one_pyproject_names():
    import tomllib

    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "WITHOUT WARRANTY" in licence
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"


def _cff_check(path):
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.citation-file-format", str(path)], capture_output=True, text=True)


def test_citation_file_validates_and_cites_book_and_paper():
    import tomllib

    res = _cff_check(ROOT / "CITATION.cff")
    assert res.returncode == 0, res.stdout + res.stderr
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    paper = cff["references"][0]
    assert paper["title"] == "Semantic-Guided Multi-Attention Localization for Zero-Shot Learning"
    assert paper["url"] == "https://arxiv.org/abs/1903.00502"


def test_a_citation_file_without_authors_fails_the_schema(tmp_path):
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    del cff["authors"]
    broken = tmp_path / "CITATION.cff"
    broken.write_text(yaml.safe_dump(cff))
    assert _cff_check(broken).returncode != 0


def test_every_reference_links_to_the_work():
    entries = re.split(r"(?m)^@", (ROOT / "references.bib").read_text())[1:]
    unlinked = [e.split(",")[0] for e in entries if not re.search(r"^\s*(url|doi)\s*=", e, re.M)]
    assert entries and not unlinked


@pytest.mark.parametrize("remote, address", [
    ("git@github.com:octocat/sgma-book.git", "https://github.com/octocat/sgma-book"),
    ("https://x-access-token:s3cret@github.com/octocat/sgma-book.git", "https://github.com/octocat/sgma-book"),
    ("ssh://git@gitlab.example.org:2222/course/sgma-book.git", "https://gitlab.example.org/course/sgma-book"),
    ("https://codeberg.org/octocat/sgma-book/", "https://codeberg.org/octocat/sgma-book"),
    ("/home/alice/sgma-book", None),  # a clone of a clone on the same machine: a folder, not an address
    ("../sgma-book", None),
    ("file:///srv/git/sgma-book.git", None),
    ("C:\\repos\\sgma-book", None),
])
def test_a_remote_becomes_a_web_address_without_credentials_or_none(remote, address):
    from bookkit.publish import web_address

    assert web_address(remote) == address


def _clone(folder, remote):
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", remote], check=True)
    return folder


def test_the_repository_address_comes_from_github_actions_or_the_clone(tmp_path):
    from bookkit.publish import repository_address

    clone = _clone(tmp_path / "clone", "git@github.com:alice/sgma-fork.git")
    assert repository_address(clone, {}) == "https://github.com/alice/sgma-fork"
    assert repository_address(clone, {"GITHUB_REPOSITORY": "octocat/sgma-book"}) == "https://github.com/octocat/sgma-book"
    assert repository_address(_clone(tmp_path / "local", str(clone)), {}) is None
    assert repository_address(_clone(tmp_path / "bare", None), {}) is None
    (tmp_path / "plain").mkdir()
    assert repository_address(tmp_path / "plain", {}) is None


def test_the_clone_command_names_the_address_or_a_placeholder():
    from bookkit.publish import NO_ADDRESS, clone_commands

    template = "git clone {repository} sgma-book\ncd sgma-book"
    assert clone_commands(template, "https://github.com/octocat/sgma-book").splitlines()[0] == \
        "git clone https://github.com/octocat/sgma-book sgma-book"
    assert clone_commands(template, None).splitlines()[0] == f"git clone {NO_ADDRESS} sgma-book"


def test_a_record_and_the_book_name_the_same_commit(monkeypatch):
    from sgma_core.records import provenance

    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef")  # a CI job: the commit it checked out
    assert provenance()["commit"] == build_provenance(ROOT)["commit"] == "0123456"


def test_a_checkout_with_changes_is_named_dirty_by_records_and_book_alike(tmp_path, monkeypatch):
    from sgma_core.paths import current_commit

    monkeypatch.delenv("GITHUB_SHA", raising=False)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text("1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert current_commit(tmp_path) == build_provenance(tmp_path)["commit"] == head
    (tmp_path / "a.py").write_text("2\n")
    assert current_commit(tmp_path) == build_provenance(tmp_path)["commit"] == head + "+dirty"
