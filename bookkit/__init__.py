"""bookkit: the tools that turn the chapters into a book — not part of the method.

* :mod:`~bookkit.chapters` — the chapter runner (``python -m bookkit.chapters``): papermill, or plain
  Python where there is no Jupyter;
* :mod:`~bookkit.sources` — the chapters, read from ``_toc.yml``, their sources and declared parameters;
* :mod:`~bookkit.display` — what a chapter shows: glued values (and reading them back), Markdown tables;
* :mod:`~bookkit.opening` — the opening every training chapter shares;
* :mod:`~bookkit.figures` — the book's figure style;
* :mod:`~bookkit.run_times` — how long each chapter takes, recorded by ``make run-times``;
* :mod:`~bookkit.exercises` — the exercises that are papermill runs;
* :mod:`~bookkit.notebooks` — the student and executed notebooks to download;
* :mod:`~bookkit.pdf` — the whole book as one PDF;
* :mod:`~bookkit.machine_paths` — no folder of the building machine in a page or a notebook to download.

It imports :mod:`sgma_core`; :mod:`sgma_core` never imports it.
"""
