"""bookkit: the tools that turn the chapters into a book, not part of the method.

The chapter runner (:mod:`~bookkit.chapters`) and the chapters' sources read from ``_toc.yml``
(:mod:`~bookkit.sources`); what a chapter shows (:mod:`~bookkit.display`, :mod:`~bookkit.opening`,
:mod:`~bookkit.figures`, :mod:`~bookkit.wording`); run times (:mod:`~bookkit.run_times`); the papermill
exercises (:mod:`~bookkit.exercises`); the notebooks to download (:mod:`~bookkit.notebooks`) and the PDF
(:mod:`~bookkit.pdf`); no folder of the building machine in a page (:mod:`~bookkit.machine_paths`).

It imports :mod:`sgma_core`; :mod:`sgma_core` never imports it.
"""
