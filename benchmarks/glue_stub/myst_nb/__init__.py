"""A stand-in for ``myst_nb.glue`` on machines without Jupyter: prints each glued value.

Used by ``benchmarks/chapter_scripts.sh`` to run the training chapters' percent scripts as plain
Python (for example on a bare GPU node); the book itself always uses the real myst_nb.
"""


def glue(name, value, display=True):
    print(f"[glue] {name} = {value!r}"[:400])
