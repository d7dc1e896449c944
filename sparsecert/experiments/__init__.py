"""Deprecated home (until 0.5) of :mod:`sparsecert.planted`, :mod:`sparsecert.cells` and
:mod:`sparsecert.working_set`: each name still resolves here, with a ``FutureWarning`` naming its new
module."""

from __future__ import annotations

import importlib
import warnings

#: Name -> the module that now holds it.
_MOVED = {
    **{n: "planted" for n in ("capacity", "planted_deep", "planted_mlp", "planted_mlp_grid", "planted_vector",
                              "imp_relu_baseline")},
    **{n: "cells" for n in ("gaussian_recovery", "l1_recovery", "relu_recovery", "SUCCESS_TOL", "RELU_VARIANTS")},
    "working_set": "working_set",
    "write_csv": "io",
}

__all__ = sorted(_MOVED)


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = f"sparsecert.{_MOVED[name]}"
    warnings.warn(f"sparsecert.experiments.{name} moved to {home}.{name}; the old name goes in 0.5",
                  FutureWarning, stacklevel=2)
    return getattr(importlib.import_module(home), name)
