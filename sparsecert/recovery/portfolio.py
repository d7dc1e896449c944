"""The package's default linear recovery: cheap fits first, path methods polished by HTP when they fail."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..validation import check_int, check_option, fold_options
from .amp import amp
from .greedy import iht_omp
from .penalized import mcp_path
from .config import IHT
from .result import RecoveryResult
from .solver import iht
from .steps import as_operator

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

    from ..typing import ArrayLike

__all__ = ["portfolio", "PATH_FITS"]

#: The path methods :func:`portfolio` can try after OMP and HTP, by name.
PATH_FITS: dict[str, Callable[..., RecoveryResult]] = {"amp": amp, "mcp": mcp_path}


def portfolio(A: LinearOperator | ArrayLike, y: ArrayLike, s: int, *, then: tuple[str, ...] = ("amp", "mcp"),
              method: str = "htp", tol: float = 1e-10, max_iter: int = 500, splice: int = 2, **kwargs: Any) -> RecoveryResult:
    """OMP and HTP (:func:`iht_omp`), then each of ``then`` polished by HTP, until a fit ends at ``tol``.

    The fits are tried in order of cost and stop at the first whose relative residual is at most
    ``tol`` (an exact fit, for noiseless problems); the one of smallest residual is returned:

    1. :func:`~sparsecert.recovery.iht_omp`: OMP, HTP with splicing from OMP's
       solution, HTP from zero (milliseconds at N = 1000; succeeds above the transition);
    2. for each name in ``then``, that path method (``"amp"``: :func:`~sparsecert.recovery.amp`,
       ``"mcp"``: :func:`~sparsecert.recovery.mcp_path`), then HTP with splicing from its fit.

    (``method`` replaces HTP everywhere.)

    On Gaussian problems (N = 1000, s = 10, 25, 50) this needs fewer samples than skglm's MCP
    path with least squares on its supports, at a fraction of its time
    (``tests/bench/test_bench_peers.py``, docs "Compared with"). With noise no fit reaches
    ``tol``, every stage runs and the s-sparse fit of smallest residual is kept.

    Parameters
    ----------
    A, y, s
        As for :func:`sparsecert.iht`.
    then : tuple of {"amp", "mcp"}
        The path methods tried after OMP and HTP, in order.
    method, tol, max_iter, splice, kwargs
        Passed to every IHT run (:func:`sparsecert.iht`; HTP by default).

    Returns
    -------
    RecoveryResult
        The kept fit; ``info["runs"]`` the fits made in order, ``info["kept"]`` the one returned,
        ``time`` the total.
    """
    s = check_int(s, "s", low=1)
    then = tuple(check_option(name, "then", set(PATH_FITS)) for name in then)
    A = as_operator(A)
    t0 = time.perf_counter()
    best = iht_omp(A, y, s, method=method, splice=splice, tol=tol, max_iter=max_iter, **kwargs)
    runs = list(best.info["runs"])
    kept = best.info["kept"]
    for name in then:
        if best.residual <= tol or best.status == "zero":
            break
        path = PATH_FITS[name](A, y, s, tol=tol)
        fits = [(name, path)]
        if path.residual > tol:  # polish it
            configs, rest = fold_options(kwargs, solver=IHT(method=method, max_iter=max_iter, tol=tol))
            fits.append((f"htp from {name}", iht(A, y, s, splice=splice, w0=path.w, **configs, **rest)))
        for label, fit in fits:
            runs.append(label)
            if fit.residual < best.residual:
                best, kept = fit, label
    best.info.update(runs=runs, kept=kept)
    best.time = time.perf_counter() - t0
    return best
