"""What a chapter shows besides its figures: values glued into the prose (and read back from an executed
notebook), Markdown tables that fit the column, a run's settings folded in a dropdown, the sentences that say
whether a record was made on this page's data and configuration."""

from __future__ import annotations

import os
import re

from bookkit.wording import join_words, seeds_text, setting_value

GLUE_ROLE = re.compile(r"\{glue:text\}`(?P<name>[^`:]+)(?::(?P<spec>[^`]*))?`")

# What this process glued, by name, and the sentences a student notebook waits to show (each a paragraph of
# plain Markdown with its {glue:text} roles) with the text last shown for each.
_GLUED: dict[str, object] = {}
_SENTENCES: dict[str, str | None] = {}


def glue(name: str, value, display: bool = True) -> None:
    """``myst_nb.glue`` inside a notebook kernel; elsewhere (a ``--plain`` run) print ``[glue] name = value``.
    A text glued for the prose (``{glue:text}``, which shows it as plain text) loses its Markdown backticks,
    which would otherwise show as they are. A sentence of a student notebook (:func:`show_computed`) that
    this value completes or changes is shown below the cell that glues it."""
    if isinstance(value, str) and not display:
        value = value.replace("`", "")
    _GLUED[name] = value
    try:
        from IPython import get_ipython

        in_kernel = get_ipython() is not None
    except ImportError:
        in_kernel = False
    if in_kernel:
        try:
            from myst_nb import glue as myst_glue
        except ImportError:  # a machine with papermill but not the book's builder (the GPU bundle)
            myst_glue = _glue_output
        myst_glue(name, value, display=display)
    else:
        print(f"[glue] {name} = {value!r}"[:400], flush=True)
    _show_sentences([s for s in _SENTENCES if name in glue_names(s)])


def glue_names(text: str) -> set[str]:
    """The names of the values that ``text``'s ``{glue:text}`` roles show."""
    return {m["name"] for m in GLUE_ROLE.finditer(text)}


def glued_values(notebook) -> dict[str, str]:
    """``{name: text}`` of what an executed notebook (an nbformat notebook, or the path of one) glued, each value
    as a ``{glue:text}`` role shows it: the ``text/plain`` form read back as Python reads it, so a string
    without its quotes, a number as Python writes it."""
    import ast

    if isinstance(notebook, (str, os.PathLike)):
        import nbformat

        notebook = nbformat.read(str(notebook), as_version=4)
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            data = output.get("data", {})
            raw = data.get(f"{scrap.get('mime_prefix', '')}text/plain", data.get("text/plain")) if scrap else None
            if raw is None:
                continue
            raw = "".join(raw) if isinstance(raw, list) else raw
            try:
                values[scrap["name"]] = str(ast.literal_eval(raw))
            except (ValueError, SyntaxError):
                values[scrap["name"]] = raw
    return values


def glued_text(value: str, spec: str | None) -> str:
    """A glued value as a ``{glue:text}`name:spec``` role shows it: as it is, or formatted as a number."""
    if not spec:
        return value
    try:
        return format(float(value), spec)
    except ValueError:
        return value


def fill_glued(text: str, glued: dict[str, str], missing=lambda name: f"*[{name}, computed by this notebook]*") -> str:
    """``text`` with each ``{glue:text}`` role replaced by its value in ``glued``, or by ``missing(name)``."""
    return GLUE_ROLE.sub(lambda m: glued_text(glued[m["name"]], m["spec"]) if m["name"] in glued
                         else missing(m["name"]), text)


def show_computed(*sentences: str) -> None:
    """A student notebook's computed sentences (plain Markdown with ``{glue:text}`` roles): each is shown with
    its values as soon as every one is glued, here if they already are, otherwise below the cell that glues
    the last; a sentence is shown again only when a value in it changes."""
    for sentence in sentences:
        _SENTENCES.setdefault(sentence, None)
    _show_sentences(sentences)


def _show_sentences(sentences) -> None:
    for sentence in sentences:
        if not glue_names(sentence) <= _GLUED.keys():
            continue
        text = fill_glued(sentence, {name: str(value) for name, value in _GLUED.items()})
        if text != _SENTENCES[sentence]:
            _SENTENCES[sentence] = text
            show_markdown(text)


def _glue_output(name: str, value, display: bool = True) -> None:
    """The output ``myst_nb.glue`` writes (its display data, with the ``scrapbook`` name and, for a value not
    displayed, the ``application/papermill.record/`` prefix on every MIME type), for a kernel without myst-nb:
    the executed notebook builds into the book as if myst-nb had glued it."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    bundle, metadata = format_display_data(value)
    prefix = "" if display else "application/papermill.record/"
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def format_seconds(seconds: float) -> str:
    """``"40 s"`` under a minute and a half, ``"4.5 min"`` above."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (cells converted with ``str``)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def show_markdown(text: str) -> None:
    """Markdown rendered in the book (tables that fit the column); printed in a plain run."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(text))
            return
    except ImportError:
        pass
    print(text, flush=True)


def show_settings(config, seeds) -> None:
    """A run's settings as a two-column table, folded until clicked (the dump is long; the prose names
    the settings that matter)."""
    from sgma_core.profiles import config_dict

    rows = [[f"`{key}`", f"`{value!r}`"] for key, value in config_dict(config).items()]
    show_markdown(f":::{{admonition}} The settings of this run ({seeds_text(seeds)}): click to open\n"
                  f":class: dropdown\n\n{markdown_table(['setting', 'value'], rows)}\n:::")


def record_config(record: dict | None) -> dict:
    """The configuration a study's record was made with (``provenance.config``: every ``RunConfig`` field), or
    ``{}`` for no record or one that does not hold it (a record under test, or from before it was kept)."""
    return ((record or {}).get("provenance") or {}).get("config") or {}


def record_changes(record: dict | None, config: dict | None) -> str:
    """How the settings a study's ``record`` was made with differ from a page's ``config`` (its dict), as
    ``"setting old there, new here; …"``; ``""`` where they agree, or where either is not known."""
    from sgma_core.records import settings_drift

    drift = settings_drift(record_config(record), config) if config else {}
    return "; ".join(f"{k} {setting_value(old)} there, {setting_value(new)} here"
                     for k, (old, new) in sorted(drift.items()))


def other_settings_sentence(record: dict | None, config: dict | None, what: str) -> str:
    """Where the looking ``record`` was made with other settings than a page's ``config``, the one sentence a
    view of it says instead of its numbers (``what``: what of the record is then not the page's run, with its
    verb, e.g. ``"its squares are"``); ``""`` where the settings agree or are not known."""
    changes = record_changes(record, config)
    if not changes:
        return ""
    return (f"The record chapter 06 renders was made with other settings than this page's ({changes}), so {what} "
            "not this run's: `make looking` makes it again.")


def record_data_note(record: dict, data_root=None, remedy: str = "") -> str:
    """A sentence for a chapter that renders a study's record: whether it was made on the data the page is
    built with (its ``provenance.data_fingerprint`` against the data root's), and if not, what differs and
    ``remedy``. Plain text: a glued value is not parsed as Markdown. Said of the build, never of "today",
    which a reader's day is not."""
    from sgma_core.data import DatasetError, load_dataset
    from sgma_core.data.dataset import FINGERPRINT_SCHEME
    from sgma_core.paths import DataRootError

    prov = record.get("provenance", {})
    name = prov.get("dataset") or record.get("dataset") or "SYN"
    made, scheme = prov.get("data_fingerprint"), prov.get("data_fingerprint_scheme", 1)
    try:
        dataset = load_dataset(name, data_root)
        built = dataset.fingerprint(scheme) if scheme in (1, FINGERPRINT_SCHEME) else dataset.fingerprint()
    except (DataRootError, DatasetError):
        return (f"The {name} data was not under the data root this page was built with, so whether this record was "
                "made on the same data cannot be checked.")
    if made == built:
        older = "" if scheme == FINGERPRINT_SCHEME else (
            ", of the older scheme: its tables and its images' names and sizes, not the images' bytes")
        return f"It was made on the {name} data this page was built with (data fingerprint {built}{older})."
    return (f"This record was made on other data than the {name} data this page was built with (data fingerprint "
            f"{made or 'not recorded, as by every record older than the fingerprint'}; this page's {built}): its "
            f"numbers describe that data, not this page's. {remedy}")


def record_config_note(drift: dict[str, tuple], profile: str, what: str, remedy: str) -> str:
    """A sentence saying whether ``what`` in a record is the ``profile`` configuration at this commit, from
    :func:`sgma_core.records.config_drift`; plain text (a glued value)."""
    if not drift:
        return f"Its {what} is the {profile} profile's configuration at this commit, setting for setting."
    changes = "; ".join(f"{k} {setting_value(old)} in the record, {setting_value(new)} at this commit"
                        for k, (old, new) in sorted(drift.items()))
    return (f"Its {what} differs from the {profile} profile at this commit ({changes}), so its numbers are of "
            f"that older configuration, not of what the chapters train at this commit. {remedy}")


# Library commits that leave every record's numbers as they were, each with the test that holds its outputs equal
SAME_OUTPUTS = {
    "d12878c": ("evaluation batches run side by side on the free cores", "tests/test_batches_side_by_side.py"),
    "88ee30b": ("snapshots of a run read while another process trains it", "tests/test_snapshot_callback.py"),
    "fa22875": ("chapter 04's first run trained by make first-run as the chapter asks for it", "tests/test_warm.py"),
}
LIBRARY = ("sgma_core", "data_prep")  # what computes a record's numbers


def library_commits_since(commit: str) -> list[tuple[str, str]] | None:
    """``(hash, subject)`` of the commits since ``commit`` that changed :data:`LIBRARY`, oldest first; None where
    git or the commit's history is not here (an archive, a shallow clone)."""
    import subprocess

    from sgma_core.paths import repo_root

    try:
        out = subprocess.run(["git", "-C", str(repo_root()), "log", "--reverse", "--format=%H %s",
                              f"{commit}..HEAD", "--", *LIBRARY], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not commit:
        return None
    return [tuple(line.split(" ", 1)) for line in out.stdout.splitlines() if line.strip()]


def made_at(record: dict) -> list[str]:
    """The commits a record's runs were trained at (the lists its provenance keeps, else the commit it was made
    at), without their ``+dirty`` mark, each once."""
    prov = record.get("provenance", {})
    lists = [prov[k] for k in ("runs_made_at", "validation_runs_made_at", "scoring_and_test_runs_made_at")
             if isinstance(prov.get(k), list)]
    commits = [str(c).split("+")[0] for c in ([c for x in lists for c in x] or [prov.get("commit", "")])]
    return list(dict.fromkeys(c for c in commits if re.fullmatch(r"[0-9a-f]{7,40}", c)))


def record_code_note(record: dict, remedy: str, check: dict | None = None, study: str = "") -> str:
    """A sentence on the library changes since the commits a record's runs were trained at: what ``check`` (the
    record of ``make code-check``, :mod:`sgma_core.studies.code_check`) measured of ``study``'s runs where it
    covers them at this commit's library, else whether a test holds each change's outputs equal
    (:data:`SAME_OUTPUTS`) or which may change the numbers, and ``remedy``; empty where nothing changed or the
    history is not here."""
    commits = made_at(record)
    since = {c: library_commits_since(c) for c in commits}
    if not commits or any(v is None for v in since.values()):
        return ""
    changes = dict(pair for pairs in since.values() for pair in pairs)
    if not changes:
        return ""
    oldest = max(commits, key=lambda c: len(since[c]))
    if len(commits) == 1:
        where = f"Since {oldest}, where it was made, the library changed in"
    else:
        where = (f"Its runs' rows were written at {len(commits)} commits, from {oldest} on; since then the library "
                 "changed in")
    measured = code_check_sentence(check, study, commits, remedy)
    if measured:
        return f"{where} {len(changes)} commits. {measured}"
    known = {h: next((v for k, v in SAME_OUTPUTS.items() if h.startswith(k)), None) for h in changes}
    unknown = [h[:7] for h, same in known.items() if same is None]
    if unknown:
        named = join_words(unknown if len(unknown) <= 6 else [*unknown[:5], f"{len(unknown) - 5} more"])
        return (f"{where} {named} in ways no test holds to the record's numbers, which may therefore differ at "
                f"this commit. {remedy}")
    said = join_words([f"{h[:7]} ({what}: {test} holds its outputs equal, bit for bit)"
                       for h, (what, test) in known.items()])
    return f"{where} {said}, which leaves the record's numbers as they were."


def code_check(profile: str) -> dict | None:
    """The committed record of ``make code-check`` for ``profile``, or None where there is none."""
    from sgma_core.paths import repo_root
    from sgma_core.studies.code_check import read_code_check

    path = repo_root() / "results" / f"code-check-{profile}.json"
    return read_code_check(path) if path.is_file() else None


def code_check_sentence(check: dict | None, study: str, commits: list[str], remedy: str) -> str:
    """What ``make code-check`` measured of ``study``'s runs, trained at ``commits``: empty where there is no
    check, its commit's library is not this commit's, or it has not checked every one of ``commits``. Runs that
    this commit's library trained (``basis`` "this library") need no check; runs no check can tie to committed code
    (``basis`` "uncommitted") are said to be so: no check rebuilds them."""
    if not check or library_commits_since(str(check.get("head", ""))) != []:
        return ""
    mine = [c for c in check.get("checks", []) if study in c.get("studies", {})]
    # a check stands on its commit, or on the later commit a row written at a changed tree was tied to
    if not set(commits) <= {c["commit"] for c in mine} | {w for c in mine for w in c.get("written_at", [])}:
        return ""

    def runs(group: list[dict]) -> int:
        return sum(c["studies"][study] for c in group)

    basis = {b: [c for c in mine if c.get("basis", "commit") == b] for b in ("commit", "this library", "uncommitted")}
    trained = {v: [c for c in basis["commit"] if c["same"] is v] for v in (True, False, None)}
    if mine and len(basis["this library"]) == len(mine):
        return (f"Every one of its {runs(mine)} runs was trained by this commit's library files themselves (the "
                "fingerprint of sgma_core/ and data_prep/ its run folder notes), so make code-check had nothing to "
                "train again.")
    short, machine = check["shortened"], check["provenance"]["machine"]
    said = []
    if basis["commit"]:
        said.append(f"The code check (make code-check) trained each setting whose row is tied to a commit's code "
                    f"again, shortened to {short['epochs']} epochs of {short['max_train_images']} images, once at "
                    f"that commit and once at {check['head'][:7]}, on one machine ({machine}), and compared every "
                    f"epoch's numbers and the weights: {len(trained[True])} of those {len(basis['commit'])} settings, "
                    f"standing for {runs(trained[True])} of {runs(basis['commit'])} runs, give the same bits")
    else:
        said.append("The code check (make code-check) could train none of the others again")
    if trained[False]:
        said.append(f"{len(trained[False])} differ ({describe_checks(trained[False])}), standing for "
                    f"{runs(trained[False])} runs whose numbers may therefore differ at this commit")
    if trained[None]:
        said.append(f"{len(trained[None])} could not be checked ({trained[None][0]['why']})")
    if basis["uncommitted"]:
        said.append(f"{runs(basis['uncommitted'])} of the {runs(mine)} runs are not tied to committed code: their "
                    f"rows were written at a tree with uncommitted changes (their commits say +dirty) and keep no "
                    f"fingerprint of the library that trained them, so no check can rebuild their code")
    ours = (f"{runs(basis['this library'])} of the {runs(mine)} runs were trained by this commit's library files "
            "themselves. " if basis["this library"] else "")
    text = ours + "; ".join(said) + (". It does not run the study's own scoring of a trained run again."
                              if basis["commit"] else ".")
    doubt = trained[False] or trained[None] or basis["uncommitted"]
    return f"{text} {remedy}" if doubt else text


def describe_checks(checks: list[dict], most: int = 4) -> str:
    """Checks as a reader can find them: the commit and the settings in which each differs from the profile."""
    def one(c: dict) -> str:
        settings = ", ".join(f"{k} {setting_value(v)}" for k, v in sorted(c.get("changed", {}).items()))
        return f"{c['kind']} at {c['commit']}" + (f" with {settings}" if settings else "")
    named = [one(c) for c in checks[:most]]
    return "; ".join(named + ([f"{len(checks) - most} more"] if len(checks) > most else []))


def telling_parts_phrase(dataset) -> str:
    """The annotated parts that tell ``dataset``'s classes apart (:func:`~sgma_core.localization.discriminative_parts`),
    in the part files' names, each group with the attribute word it carries where that differs: "beak (the
    bill), crown and eye (the head), wing and tail". The prose that names parts and the output that lists them
    then say the same parts. Empty without part or attribute names."""
    from sgma_core.localization import PART_WORDS, discriminative_parts

    if not dataset.part_names or not dataset.attribute_names:
        return ""
    telling = discriminative_parts(dataset.part_names, dataset.attribute_names, dataset.att)
    words = {w for name in dataset.attribute_names for w in name.split("::")[0].removeprefix("has_").split("_")}
    groups: dict[str, list[str]] = {}
    for name, tells in zip(dataset.part_names, telling):
        if tells:
            own = name.split()[-1]
            alias = own if own in words else next((w for w in PART_WORDS.get(own, ()) if w in words), own)
            groups.setdefault(alias, []).append(name)
    items = []  # a group named by another word is one item ("crown and eye (the head)"), other parts one each
    for alias, names in groups.items():
        named_alike = all(n.split()[-1] == alias for n in names)
        items += names if named_alike else [f"{join_words(names)} (the {alias})"]
    return join_words(items)
