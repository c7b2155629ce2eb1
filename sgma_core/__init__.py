"""sgma_core: the tested library behind the SGMA book.

One module per part of the method; chapters in ``book/`` import these modules and
show them, and no logic lives only in a chapter.
"""

__version__ = "0.1.0"
