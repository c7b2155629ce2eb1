"""Does the library at this commit compute what it computed when a record's runs were trained? For every
setting in the studies' ledgers (:mod:`sgma_core.studies.ledger`, which keep each run's commit and library
fingerprint), this command trains one shortened run at the commit that trained it (a git worktree) and one at
this commit, on this machine, and compares every epoch's numbers and the trained weights bit for bit; a
difference names the commit and the settings. It covers training and the train command's evaluation, not a
study's own scoring. A run whose library is this commit's needs no training; one trained with changes no commit
holds (``+dirty`` without a fingerprint, or a fingerprint no commit holds) cannot be rebuilt and is said so; one
whose fingerprint a later commit holds is checked at that commit. ::

    python -m sgma_core.studies.code_check --profile cpu --jobs 2     # make code-check

The record, ``results/code-check-<profile>.json``, is written after every comparison; a second call at a commit
with the same library files goes on where the first stopped. A commit this clone does not hold, or whose
settings cannot express a run's, is recorded as not checked, with why.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sgma_core.paths import repo_root

STUDIES = ("looking", "ablations")  # the studies whose ledgers hold trained runs (power's are the ablation's)
# each check's run: short, the same at both commits; its other settings are the ledger's
SHORTENED = {"epochs": 2, "pretrain_epochs": 1, "max_train_images": 96, "max_test_images": 96,
             "grouping_images": 32, "prototype_images": 4}
RUNTIME = {"num_threads": 1, "eval_every": 1}
# identity fields that are not -p settings: a validation run ("split") is checked on the test split's images
NOT_SETTINGS = ("seed", "data", "cpu_dispatch", "profile", "dataset", "split")
TIMING = ("seconds", "threads", "minutes")  # metrics fields that measure the machine, not the computation
RECORD_KEYS = ("head", "shortened", "studies", "checks", "provenance")


class CodeCheckError(ValueError):
    """A ledger file or a code-check record that cannot be trusted."""


def ledger_runs(folder: Path, head_library: str | None = None) -> list[dict]:
    """Every entry of a study's ledger ``folder`` and of its sub-ledgers: ``{"commit", "kind", "settings",
    "basis"}`` (the commit without its ``+dirty`` mark; kind ``sgma`` or ``baseline`` from the identity's keys;
    basis: :func:`basis_of`); a row whose fingerprint is not its commit's library is tied to a commit that holds it
    (:func:`~sgma_core.paths.commit_with_library`), where one does."""
    from sgma_core.backbones import BACKBONES
    from sgma_core.engine.runs import BASELINE_SETTINGS
    from sgma_core.paths import commit_with_library
    from sgma_core.records import loads_finite

    baseline = {*BASELINE_SETTINGS, *(e.stored_as for e in BACKBONES.values() if e.stored_as)}  # layer keys too

    runs = []
    for path in sorted(folder.rglob("*.json")):
        try:
            entry = loads_finite(path.read_text())
            identity, commit = entry["identity"], str(entry["commit"]).split("+")[0]
            assert isinstance(identity, dict) and commit and isinstance(entry.get("library", ""), str)
        except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError):
            raise CodeCheckError(f"{path} is not a ledger entry with an identity and a commit; restore it from the "
                                 "repository (git checkout -- <file>).") from None
        settings = {k: v for k, v in identity.items() if k not in NOT_SETTINGS}
        kind = "baseline" if set(settings) <= baseline else "sgma"
        basis = basis_of(entry, head_library)
        tied = commit_with_library(entry["library"], commit) if basis == "uncommitted" and entry.get(
            "library") else None  # a row written at a changed tree: its code is that of a commit holding it
        runs.append({"commit": tied or commit, "kind": kind, "settings": settings, "basis": "commit" if tied else basis,
                     "profile": identity.get("profile"), "dataset": identity.get("dataset"), "written_at": commit})
    return runs


def basis_of(entry: dict, head_library: str | None) -> str:
    """What a check can stand on for a ledger ``entry``: ``"this library"`` where its ``library`` fingerprint
    is ``head_library`` (the same files: nothing to train); ``"commit"`` where its code was its commit's (the
    fingerprint is the commit's library, or, with none kept, the commit has no ``+dirty`` mark); else
    ``"uncommitted"``: not tied to committed code (a ``+dirty`` row without a fingerprint, or one whose fingerprint
    is not its commit's library), which no check can rebuild."""
    from sgma_core.paths import library_at

    library, commit = entry.get("library"), str(entry["commit"])
    if library is not None and library == head_library:
        return "this library"
    if library is None:
        return "uncommitted" if commit.endswith("+dirty") else "commit"
    return "commit" if library == library_at(commit.split("+")[0]) else "uncommitted"


UNCHECKABLE = {"this library": "trained by this commit's library files, the same code",
               "uncommitted": "not tied to committed code: its row was written at a tree with changes (its commit "
                              "says +dirty) and keeps no fingerprint of the library that trained it, or one that no "
                              "commit holds"}


def ident(check: dict) -> tuple[str, str, str]:
    """What tells one check from another: its commit, settings key and basis (:func:`basis_of`)."""
    return check["commit"], check["key"], check.get("basis", "commit")


def key_of(kind: str, settings: dict) -> str:
    return hashlib.sha256(json.dumps([kind, settings], sort_keys=True).encode()).hexdigest()[:12]


def checks_of(studies: dict[str, list[dict]]) -> list[dict]:
    """One check per commit and distinct (kind, settings) trained there, with the number of ledger rows it
    stands for in each study (``studies``) and the commits they were written at, in order of first appearance."""
    checks: dict[tuple, dict] = {}
    for study, runs in studies.items():
        for run in runs:
            key = (run["commit"], key_of(run["kind"], {**run["settings"], "profile": run["profile"],
                                                        "dataset": run["dataset"]}), run.get("basis", "commit"))
            check = checks.setdefault(key, {"commit": run["commit"], "kind": run["kind"], "key": key[1],
                                            "basis": key[2], "profile": run["profile"], "dataset": run["dataset"],
                                            "settings": run["settings"], "studies": {}, "written_at": []})
            check["studies"][study] = check["studies"].get(study, 0) + 1
            check["written_at"] = sorted({*check["written_at"], run.get("written_at", run["commit"])})
    return list(checks.values())


def settings_argv(settings: dict, fields: set[str], current: dict) -> list[str]:
    """``-p NAME VALUE`` for ``settings`` at a commit whose RunConfig has ``fields``: the layer key a backbone
    stores becomes ``layer`` where it is not the default; a setting the commit does not have is left out where
    its value is this commit's (``current``), else :class:`CodeCheckError` (the commit cannot express the run)."""
    from sgma_core.backbones import BACKBONES, backbone_entry

    entry = backbone_entry(settings.get("backbone"))
    stored = {e.stored_as for e in BACKBONES.values() if e.stored_as}
    wanted = {k: v for k, v in settings.items() if k not in stored}
    if entry.stored_as and settings.get(entry.stored_as, entry.default_layer) != entry.default_layer:
        wanted["layer"] = settings[entry.stored_as]
    argv = []
    for name, value in sorted({**wanted, **SHORTENED}.items()):
        if name not in fields:
            if value != current.get(name):
                raise CodeCheckError(f"the commit has no setting {name} (the run's value: {value!r})")
            continue
        argv += ["-p", name, json.dumps(value)]
    return argv + [a for name, v in RUNTIME.items() if name in fields for a in ("-p", name, json.dumps(v))]


def fingerprint(runs_dir: Path, kind: str) -> dict:
    """What a check compares of the one run in ``runs_dir``: every epoch's metrics (without timings) and the
    SHA-256 of its trained weights (``last.pt``, written by this check's own run, read as tensors only)."""
    import torch

    from sgma_core.engine.runs import read_metrics

    folders = [p for p in (runs_dir / kind).iterdir() if p.is_dir()] if (runs_dir / kind).is_dir() else []
    if len(folders) != 1 or not (folders[0] / "last.pt").is_file():
        raise CodeCheckError(f"{runs_dir / kind} holds no finished run")
    metrics = [{k: v for k, v in m.items() if k not in TIMING} for m in read_metrics(folders[0])]
    state = torch.load(folders[0] / "last.pt", map_location="cpu", weights_only=True)["model"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().contiguous().cpu().numpy().tobytes())
    return {"metrics": metrics, "weights": digest.hexdigest()}


def differences(a: dict, b: dict) -> list[str]:
    """The fields in which two fingerprints differ: ``weights`` and ``epoch N: name`` for metrics."""
    out = ["weights"] if a["weights"] != b["weights"] else []
    if len(a["metrics"]) != len(b["metrics"]):
        return out + [f"epochs ({len(a['metrics'])} against {len(b['metrics'])})"]
    for i, (x, y) in enumerate(zip(a["metrics"], b["metrics"])):
        out += [f"epoch {i}: {k}" for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
    return out


def train_once(tree: Path, check: dict, fields: set[str], current: dict, scratch: Path, data_root: str) -> dict:
    """The fingerprint of ``check``'s shortened run trained by the code in ``tree``, in a folder of its own under
    ``scratch`` that is removed afterwards."""
    argv = settings_argv(check["settings"], fields, current)
    runs_dir = Path(tempfile.mkdtemp(prefix=f"{check['commit']}-{check['key']}-", dir=scratch))
    try:
        cmd = [sys.executable, "-m", "sgma_core.train", "--model", check["kind"], "--quiet", "--profile",
               check.get("profile") or "cpu", "--dataset", check.get("dataset") or "SYN", "--seeds", "0",
               "--data-root", data_root, "--runs-dir", str(runs_dir), *argv]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        env.pop("SGMA_RUNS_ROOT", None)
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            lines = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()
            raise CodeCheckError(f"the run failed: {lines[-1][:300]}")
        return fingerprint(runs_dir, check["kind"])
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)


def git(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo_root()), *args], capture_output=True, text=True, timeout=timeout)


def worktree(commit: str, scratch: Path, name: str = "tree") -> Path:
    """A detached worktree of ``commit`` at ``scratch/<name>-<commit>`` (one this command left there is
    replaced); :class:`CodeCheckError` where this clone does not hold the commit."""
    tree = scratch / f"{name}-{commit}"
    if tree.exists():
        git("worktree", "remove", "--force", str(tree))
    git("worktree", "prune")
    done = git("worktree", "add", "--detach", "--force", str(tree), commit)
    if done.returncode != 0:
        raise CodeCheckError(f"this clone does not hold commit {commit} (a shallow clone or an archive?): "
                             f"{done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else 'git failed'}")
    return tree


def setting_fields(tree: Path) -> set[str]:
    """The names of the RunConfig settings of the code in ``tree``."""
    code = ("import dataclasses, json; from sgma_core.profiles import RunConfig; "
            "print(json.dumps([f.name for f in dataclasses.fields(RunConfig)]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise CodeCheckError(f"the code at {tree.name} does not import: {done.stderr.strip()[-200:]}")
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def compared(check: dict, theirs: dict | None, ours: dict | None, why: str = "") -> dict:
    """A check's entry in the record: its commit, kind, settings that differ from this commit's profile, the
    ledger rows it stands for in each study, and ``same`` (True, False, or None: not checked, ``why``)."""
    entry = {k: check[k] for k in ("commit", "kind", "key", "basis", "changed", "studies", "written_at") if k in check}
    if check.get("basis", "commit") != "commit":
        return {**entry, "same": True if check["basis"] == "this library" else None, "why": UNCHECKABLE[check["basis"]]}
    if theirs is None or ours is None or "error" in ours:
        return {**entry, "same": None, "why": why or (ours or {}).get("error", "")}
    diff = differences(theirs, ours)
    return {**entry, "same": not diff, "why": ", ".join(diff[:8])}


def read_code_check(path: str | Path) -> dict:
    """A record of :func:`run_code_check`, checked for its keys; a damaged one is named with the command that
    writes it again."""
    from sgma_core import records

    return records.read_record(path, RECORD_KEYS, "`make code-check` writes it again.")


def default_path(profile: str) -> Path:
    return repo_root() / "results" / f"code-check-{profile}.json"


def run_code_check(profile: str = "cpu", jobs: int = 1, out: str | Path | None = None, data_root=None,
                   runs_dir=None, progress: bool = True, ledgers: str | Path | None = None) -> dict:
    """Every check of the studies' ledgers (:data:`STUDIES`, in ``ledgers``, default ``results/ledger``) against
    this commit, ``jobs`` runs at a time; the record is written to ``out`` after each and resumed from it where
    it was made at a commit with this commit's library files."""
    from sgma_core.paths import find_dataset, library_at, runs_root
    from sgma_core.profiles import config_dict, make_experiment
    from sgma_core.records import provenance, write_record

    t0, head = time.perf_counter(), git("rev-parse", "--short=12", "HEAD").stdout.strip()
    if not head:
        raise CodeCheckError("this is not a git clone: the check needs the repository's history (git clone).")
    folders = {s: Path(ledgers or repo_root() / "results" / "ledger") / f"{s}-{profile}" for s in STUDIES}
    studies = {s: ledger_runs(f, library_at(head)) for s, f in folders.items() if f.is_dir()}
    checks = checks_of(studies)
    record = start_record(profile, head, studies, out)
    keep_current(record, checks)
    current = config_dict(make_experiment(profile, {"dataset": "SYN"}).config)
    for check in checks:  # the settings in which the run differs from this commit's profile, for the reader
        check["changed"] = {k: v for k, v in check["settings"].items() if k in current and v != current[k]}
    done = {ident(c) for c in record["checks"]}  # what cannot be trained, or needs not be, is settled at once
    record["checks"] += [compared(c, None, None) for c in checks if c["basis"] != "commit" and ident(c) not in done]
    trained = [c for c in checks if c["basis"] == "commit"]
    data = str(find_dataset("SYN", data_root).parent)
    scratch = runs_root(runs_dir) / "code-check"
    scratch.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    def save() -> None:
        done = {ident(c) for c in record["checks"]}
        record["provenance"] = provenance(None, time.perf_counter() - t0,
                                          complete=all(ident(c) in done for c in checks))
        if out is not None:
            write_record(out, record)

    def each(function, items) -> None:
        with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(function, items))

    head_tree = worktree(head, scratch, "head")
    try:
        fields = setting_fields(head_tree)

        def at_head(check: dict) -> None:
            try:
                result = train_once(head_tree, check, fields, current, scratch, data)
            except CodeCheckError as exc:
                result = {"error": str(exc)}
            with lock:
                record["head_runs"][check["key"]] = result
                save()

        each(at_head, list({c["key"]: c for c in trained if c["key"] not in record["head_runs"]}.values()))
        for commit in dict.fromkeys(c["commit"] for c in trained):
            check_commit(commit, checks, record, scratch, lambda c, t, f: train_once(t, c, f, current, scratch, data),
                         each, lock, save, progress)
    finally:
        git("worktree", "remove", "--force", str(head_tree))
    save()
    return record


def start_record(profile: str, head: str, studies: dict[str, list[dict]], out: str | Path | None) -> dict:
    """A new record, with the checks and this commit's runs of the one at ``out`` where it was made at a commit
    with ``head``'s library files (:func:`~sgma_core.paths.library_at`) and the same shortened settings (an
    interrupted check goes on; a commit that changed no library file keeps what was measured)."""
    from sgma_core.paths import library_at

    record = {"profile": profile, "head": head, "shortened": SHORTENED, "checks": [], "head_runs": {},
              "studies": {s: {"rows": len(r), "commits": sorted({x["commit"] for x in r})} for s, r in studies.items()}}
    if out is not None and Path(out).is_file():
        previous = read_code_check(out)
        theirs = library_at(previous["head"])
        same = previous["head"] == head or (theirs is not None and theirs == library_at(head))
        if same and previous["shortened"] == SHORTENED:
            record.update(checks=previous["checks"], head_runs=previous.get("head_runs", {}))
    return record


def keep_current(record: dict, checks: list[dict]) -> None:
    """Drop from a resumed ``record`` the checks and runs of settings no ledger holds; kept ones count today's rows."""
    keys = {ident(c): c for c in checks}
    record["checks"] = [{**c, "studies": keys[ident(c)]["studies"]} for c in record["checks"] if ident(c) in keys]
    record["head_runs"] = {k: v for k, v in record["head_runs"].items() if k in {c["key"] for c in checks}}


def check_commit(commit: str, checks: list[dict], record: dict, scratch: Path, train, each, lock, save,
                 progress: bool) -> None:
    """The checks of one commit not yet in ``record``: its worktree, each run trained there, compared with the
    same settings' run at this commit (``record["head_runs"]``), the worktree removed."""
    done = {ident(c) for c in record["checks"]}
    todo = [c for c in checks if c["commit"] == commit and ident(c)[2] == "commit" and ident(c) not in done]
    if not todo:
        return
    tree = None
    try:
        tree = worktree(commit, scratch)
        fields = setting_fields(tree)

        def one(check: dict) -> None:
            try:
                entry = compared(check, train(check, tree, fields), record["head_runs"][check["key"]])
            except CodeCheckError as exc:
                entry = compared(check, None, None, str(exc))
            with lock:
                record["checks"].append(entry)
                save()
            if progress:
                verdict = {True: "same", False: f"differs ({entry['why']})", None: f"not checked ({entry['why']})"}
                print(f"{commit} {check['kind']} {check['key']}: {verdict[entry['same']]}", flush=True)

        each(one, todo)
    except CodeCheckError as exc:  # no worktree of the commit, or its code does not import: none of its checks ran
        with lock:
            record["checks"] += [compared(c, None, None, str(exc)) for c in todo]
            save()
    finally:
        if tree is not None:
            git("worktree", "remove", "--force", str(tree))


def main(argv: list[str] | None = None) -> int:
    from sgma_core.cli import command

    @command
    def run(args_list: list[str]) -> int:
        import argparse

        from sgma_core.cli import add_debug_flag, positive_int
        from sgma_core.records import writable_output

        p = argparse.ArgumentParser(prog="python -m sgma_core.studies.code_check", description=__doc__.split("\n\n")[0])
        p.add_argument("--profile", default="cpu", choices=("smoke", "cpu"), help="smoke, cpu (default: cpu)")
        p.add_argument("--jobs", type=positive_int, default=1, help="runs trained at once (default 1)")
        p.add_argument("--out", default=None, help=f"default: {default_path('<profile>')}")
        p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
        p.add_argument("--runs-dir", default=None, help="where its runs are trained and removed (default: runs/)")
        add_debug_flag(p)
        a = p.parse_args(args_list)
        out = writable_output(a.out or default_path(a.profile))
        record = run_code_check(a.profile, a.jobs, out, a.data_root, a.runs_dir)
        same = sum(c["same"] is True for c in record["checks"])
        print(f"{out}: {same} of {len(record['checks'])} checks the same bit for bit "
              f"({sum(c['same'] is False for c in record['checks'])} differ, "
              f"{sum(c['same'] is None for c in record['checks'])} not checked)")
        return 0

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
