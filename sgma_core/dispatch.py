"""CPU dispatch levels, pinned so that a CPU run repeats on another x86-64 machine.

With one thread, the same torch, data and seed, two machines still train different bits when their libraries pick
different instruction sets for one kernel: PyTorch's own kernels (``ATEN_CPU_CAPABILITY``), oneDNN's convolutions
(``ONEDNN_MAX_CPU_ISA``) and MKL's BLAS (``MKL_CBWR``). Importing :mod:`sgma_core` calls :func:`pin`, which sets
each of them to :data:`PINNED` unless it is already set or ``SGMA_CPU_DISPATCH=native`` asks to leave every library
its own choice (any other value is refused). The libraries read the variables when they first compute, so the pin
holds when :mod:`sgma_core` is imported before the first tensor operation (``import torch`` alone is early
enough). :func:`levels` reports what the process uses; it is part of every CPU run's identity and every record's
provenance, so runs made at different levels are never mixed. The pin is for eager runs: torch.compile's CPU code
follows ``ATEN_CPU_CAPABILITY`` too and can compute out-of-range indices at the pinned level, so a process that
compiles on a CPU leaves it (:func:`leave_native`, :func:`native_while`; ``benchmarks/gpu_day.py`` does).
"""

from __future__ import annotations

import contextlib
import os

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
OPT_OUT = "SGMA_CPU_DISPATCH"  # "native": no pin
_CHOICES = ("pinned", "native")


def pin() -> None:
    """Set each variable of :data:`PINNED` that is not set already (nothing with ``SGMA_CPU_DISPATCH=native``);
    :class:`ValueError` names any other value of ``SGMA_CPU_DISPATCH``."""
    choice = os.environ.get(OPT_OUT, "pinned").strip().lower()
    if choice not in _CHOICES:
        raise ValueError(f"{OPT_OUT}={os.environ[OPT_OUT]!r}: choose 'pinned' (the default: {PINNED}) or 'native' "
                         "(each library picks its own instruction set; runs may then differ between machines).")
    if choice == "pinned":
        for name, value in PINNED.items():
            os.environ.setdefault(name, value)


def leave_native() -> None:
    """Undo :func:`pin` for this process and the processes it starts: ``SGMA_CPU_DISPATCH=native``, and each
    variable of :data:`PINNED` that holds the pin's value removed (one set to another value is left alone). Call
    it before the first tensor operation."""
    os.environ[OPT_OUT] = "native"
    for name, value in PINNED.items():
        if os.environ.get(name) == value:
            del os.environ[name]


@contextlib.contextmanager
def native_while():
    """:func:`leave_native` for the ``with`` block (and the processes started in it); the environment as it was
    afterwards, so that a caller that imported and ran the block keeps its own pin for what it starts later."""
    names = (*PINNED, OPT_OUT)
    saved = {name: os.environ.get(name) for name in names}
    leave_native()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def levels() -> dict:
    """The levels this process computes at: ``{"aten": "AVX2", "onednn": "AVX2", "mkl_cbwr": "AVX2"}`` (PyTorch's
    as it reports it; oneDNN's and MKL's as set, ``"native"`` where unset)."""
    import torch

    return {"aten": torch.backends.cpu.get_cpu_capability(),
            "onednn": os.environ.get("ONEDNN_MAX_CPU_ISA", "native"), "mkl_cbwr": os.environ.get("MKL_CBWR", "native")}
