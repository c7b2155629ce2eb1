"""How numbers, lists, settings and percentages read in the book's sentences: "one seed", "seeds 0, 1
and 2", "attention_norm none", "0.2 % against 1.2 %", never "1 seed(s)", "seeds [0]", "'none'" or two
numbers rounded to the same figure when they differ.

:func:`prose_defects` finds what a sentence made by code should never show; the tests run it over the
chapters' sources and over the built pages.
"""

from __future__ import annotations

import math
import re

import numpy as np

from sgma_core import stats

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    """``n`` in words up to ten (``0`` → "no"), in digits above: "one", "five", "12"."""
    n = int(n)
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """The noun for ``n`` things: ``singular`` for one, else ``plural_form`` (default ``singular + "s"``)."""
    return singular if int(n) == 1 else plural_form or singular + "s"


def count(n: int, singular: str, plural_form: str | None = None, words: bool = True) -> str:
    """``n`` and its noun: "one CPU thread", "two distinct pairs", "600 images" (``words``: ten and fewer
    in words; ``False``: always digits, "1 seed")."""
    return f"{number_word(n) if words else int(n)} {plural(n, singular, plural_form)}"


def join_words(items, conjunction: str = "and") -> str:
    """Items as a list in a sentence: "0", "0 and 1", "0, 1 and 2" (``str`` of each)."""
    items = [str(i) for i in items]
    if not items:
        raise ValueError("join_words needs at least one item: a sentence cannot list nothing.")
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def numbered(noun: str, numbers, plural_form: str | None = None) -> str:
    """Things named by their numbers: "seed 0", "seeds 0, 1 and 2" (sorted as given)."""
    numbers = list(numbers)
    return f"{plural(len(numbers), noun, plural_form)} {join_words(numbers)}"


def seeds_text(seeds) -> str:
    """``numbered("seed", sorted(seeds))``: "seed 0", "seeds 0 and 2"."""
    return numbered("seed", sorted(int(s) for s in seeds))


def mean_over(seeds) -> str:
    """What a mean of per-seed numbers is over: "mean over seeds 0, 1 and 2", or "seed 0" for one seed,
    whose number is no mean."""
    seeds = sorted(int(s) for s in seeds)
    return seeds_text(seeds) if len(seeds) == 1 else f"mean over {seeds_text(seeds)}"


def spread_label(seed_counts, spread: str = "mean ± sd", unit: str = "row") -> str:
    """What a table's "mean ± spread" cells are, from the number of seeds behind each ``unit`` (row, backbone):
    "mean ± sd over the seeds of each row", or "one seed each" when every count is one."""
    counts = [int(n) for n in seed_counts]
    if all(n == 1 for n in counts):
        return "one seed each"
    label = f"{spread} over the seeds of each {unit}"
    return label if all(n > 1 for n in counts) else f"{label}, the one value where a {unit} has one seed"


def setting_value(value) -> str:
    """A setting's value as a sentence shows it: a string as it is (``'none'`` → "none"), a truth value as
    "on" or "off", ``None`` as "not set", a number in its shortest form, a list as a list in words."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "not set"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return join_words([setting_value(v) for v in value]) if value else "none"
    return str(value)


def setting_text(name: str, value) -> str:
    """A setting and its value in a sentence: "attention_norm none", "prototype_norm on"."""
    return f"{name} {setting_value(value)}"


def percent_digits(values, digits: int = 1, most: int = 4) -> int:
    """The decimals (at least ``digits``, at most ``most``) at which fractions ``values`` shown in percent
    keep apart every two that differ: 0.0018 and 0.0121 need one (0.2 and 1.2), 0.1204 and 0.1196 two."""
    shown = [100 * float(v) for v in values]
    for d in range(digits, most + 1):
        rounded = [round(v, d) for v in shown]
        if all(rounded[i] != rounded[j] or shown[i] == shown[j]
               for i in range(len(shown)) for j in range(i + 1, len(shown))):
            return d
    return most


def percents(*values, digits: int = 1) -> list[str]:
    """Fractions as percentages ("0.2 %", "1.2 %") with the same decimals, at least ``digits`` (a table's, so
    that the sentence matches it) and as many more as keep different values different."""
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError(f"percents of {values}: every value must be a finite number.")
    d = percent_digits(values, digits)
    return [f"{100 * float(v):.{d}f} %" for v in values]


# What a sentence made by code should never show, each with a pattern that finds it in plain text.
PROSE_DEFECTS = {
    "a plural written as '(s)'": re.compile(r"[A-Za-z]{2}\(s\)"),
    "a Python list after a noun": re.compile(r"\b(?:seeds?|epochs?|runs?|classes|parts?|threads?)\s+"
                                             r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]"),
    "a value in Python's quotes": re.compile(r"\w\s*=\s*'[^'\s]*'|'[^'\s]*' (?:then|now)\b"),
}


def prose_defects(text: str) -> list[tuple[str, str]]:
    """Every ``(what, excerpt)`` of :data:`PROSE_DEFECTS` in ``text``, plain prose (code and math removed
    by the caller), with some context around each."""
    found = []
    for what, pattern in PROSE_DEFECTS.items():
        for m in pattern.finditer(text):
            found.append((what, text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")))
    return found


# Fences whose content is code or data, not prose: code cells, listings, math, raw blocks.
CODE_DIRECTIVES = {"code-cell", "code", "code-block", "literalinclude", "math", "raw", "glue:figure", "glue:math",
                   "run-times", "quiz", "notebook-downloads", "bibliography", "tableofcontents"}
_LABEL = re.compile(r"^\(\S+\)=\s*$")  # a target, "(sec-attention)="
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(?:\{([\w:-]+)\})?\s*(\S*)")
_INLINE = [re.compile(p, re.S) for p in (r"<!--.*?-->", r"\{[\w:-]+\}`[^`]*`", r"``[^`]+``", r"`[^`\n]+`",
                                         r"\$\$.*?\$\$", r"\$[^$\n]+\$", r"\]\([^)\s]*\)")]


def markdown_prose(source: str) -> str:
    """The prose of a MyST Markdown file: its text without front matter, code and math blocks, listings,
    inline code, roles (``{glue:text}`…```, ``{eq}`…```), inline math, comments and link targets; the
    prose inside directives (exercises, solutions, admonitions) stays."""
    if source.startswith("---\n"):
        source = source[source.index("\n---", 3) + 4:]
    kept, stack = [], []  # open fences: (marker, is code)
    for line in source.splitlines():
        fence = _FENCE.match(line)
        if fence and stack and fence.group(1).startswith(stack[-1][0][0]) and len(fence.group(1)) >= \
                len(stack[-1][0]) and not fence.group(2) and not fence.group(3):
            stack.pop()
            continue
        if fence and not (stack and stack[-1][1]):
            directive = fence.group(2)
            code = fence.group(1)[0] != ":" and (directive is None or directive in CODE_DIRECTIVES)
            stack.append((fence.group(1), code or (directive in CODE_DIRECTIVES)))
            continue
        if not (stack and stack[-1][1]) and not line.lstrip().startswith(":") and not _LABEL.match(line):
            kept.append(line)
    text = "\n".join(kept)
    for pattern in _INLINE:
        text = pattern.sub(" ", text)
    return text


def page_prose(html: str) -> str:
    """The prose of a built page: its text without code (inputs, listings, printed outputs), math, scripts
    and the navigation around the article."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    article = soup.find("article") or soup
    for tag in article.find_all(["pre", "code", "script", "style", "math", "mjx-container"]):
        tag.decompose()
    for tag in article.select(".math, .cell_input, .highlight"):
        tag.decompose()
    text = article.get_text(" ")
    return re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", " ", text, flags=re.S)


def verdict(gain: dict | None) -> str:
    """:func:`sgma_core.stats.verdict` as a table shows it: ``"–"`` without a gain."""
    return stats.verdict(gain) or "–"


def points(gain: dict | None) -> str:
    """A paired difference of fractions as ``"+1.2 ± 0.8"`` percentage points (mean ± standard error), with a
    second decimal where the first would show numbers that give another verdict than the gain's."""
    if gain is None:
        return "–"
    digits = next((d for d in (1, 2) if stats.verdict({"mean": round(gain["mean"], d + 2), "se": round(
        gain["se"], d + 2)}) == stats.verdict(gain)), 3)
    return f"{100 * gain['mean']:+.{digits}f} ± {100 * gain['se']:.{digits}f}"


def mean_sd(values) -> str:
    """Fractions as ``"mean ± sd"`` in % (sample sd, ddof = 1); one value as itself (one seed has no spread)."""
    mean, sd = stats.mean_sd(100 * np.asarray(values, dtype=float))
    return f"{mean:.1f}" if sd is None else f"{mean:.1f} ± {sd:.1f}"
