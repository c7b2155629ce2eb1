"""The GitHub Actions workflow that publishes the book is valid against GitHub's workflow schema
(checked offline: check-jsonschema ships the schema) and does what the README says."""

import subprocess
import sys

import yaml

from sgma_core.paths import repo_root

WORKFLOW = repo_root() / ".github" / "workflows" / "book.yml"


def test_workflow_passes_githubs_schema():
    res = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                          str(WORKFLOW)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_broken_workflow_fails_the_schema(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  build:\n    steps: []\n")  # a job without runs-on
    res = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                          str(broken)], capture_output=True, text=True)
    assert res.returncode != 0


def test_workflow_builds_with_make_and_deploys_main_only():
    wf = yaml.safe_load(WORKFLOW.read_text())
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    runs = [s.get("run", "") for s in build["steps"]]
    assert "make book" in runs and "make test" in runs
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and "refs/heads/main" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert wf["permissions"] == {"contents": "read"}  # nothing else may write
