"""Without myst-nb (the GPU machine's environment), a chapter's glued values are written exactly as myst-nb
writes them, so the executed notebook builds into the book the same way."""

import pytest


@pytest.mark.parametrize("value, display", [("a `text` value", False), (12.5, False), ({"k": 1}, True)])
def test_the_fallback_glue_writes_what_myst_nb_writes(monkeypatch, value, display):
    import IPython.display
    from myst_nb import glue as myst_glue

    from bookkit import display as book_display

    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: calls.append((a, k)))
    import myst_nb.ext.glue as glue_module
    monkeypatch.setattr(glue_module, "ipy_display", lambda *a, **k: calls.append((a, k)))
    myst_glue("name", value, display=display)
    book_display._glue_output("name", value, display=display)
    assert len(calls) == 2 and calls[0] == calls[1]
    (data,), kwargs = calls[1]
    assert kwargs["metadata"]["scrapbook"]["name"] == "name"
    assert all(k.startswith("application/papermill.record/") != display for k in data)
