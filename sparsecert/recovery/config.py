"""How IHT steps and when it stops, as one frozen configuration (:class:`IHT`) checked when made: what
:func:`sparsecert.iht` takes for one run and :func:`sparsecert.fit` for a network, with the step names
(:data:`METHODS`) and the losses of the factored fit (:data:`LOSSES`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..validation import check_float, check_int, check_option

__all__ = ["IHT", "METHODS", "LOSSES"]

#: IHT's steps: fixed (``"iht"``), normalised (``"niht"``), normalised with conjugate-gradient steps on
#: the new support (``"aiht"``, the paper's), and hard thresholding pursuit (``"htp"``).
METHODS = ("iht", "niht", "aiht", "htp")

#: Losses of the factored fit: ``"squared"``, ``0.5 ||Y - F||_F^2``, and ``"cross-entropy"``,
#: ``-sum_i sum_c Y_ic log softmax(F_i)_c`` (rows of ``Y`` are class probabilities, e.g. one-hot).
LOSSES = ("squared", "cross-entropy")


@dataclass(frozen=True)
class IHT:
    """How IHT steps and when it stops.

    The defaults are :func:`sparsecert.fit`'s (the paper's AIHT, 100 iterations);
    :func:`sparsecert.iht` runs ``IHT(method="niht", max_iter=500)`` unless given one.

    Parameters
    ----------
    method : {"iht", "niht", "aiht", "htp"}
        The step (:data:`METHODS`).
    inner_iter : int, >= 0
        AIHT's inner conjugate-gradient steps per iteration (the reference code takes 10
        gradient steps; 3 by default).
    max_iter : int, >= 1
        Iterations (full-batch; the factored fit's steps).
    tol, xtol : float, >= 0
        Stop when the relative residual ``||y - A w|| / ||y||`` is at most ``tol``, or when the support
        is unchanged and the iterate moves less than ``xtol`` relative.
    block : int, optional
        Hidden units per streaming block of a network fit (default: the operator's).
    loss : {"squared", "cross-entropy"}
        What a network fit descends: the squared error (a scalar output is always fitted so), or for a
        2-d ``y`` the softmax cross-entropy (rows of ``y`` are class probabilities).
    step : float, optional
        Fixed step ``mu > 0`` (default: ``1 / L_2s`` for ``"iht"``, from 20 truncated power
        iterations; adaptive, normalised, for the others). A fixed step disables NIHT's safeguard.
    ls_iter, ls_tol : int >= 1, float >= 0
        HTP: CGLS iterations and relative gradient tolerance of the least-squares solve on the support
        (small supports are solved directly).
    """

    method: str = "aiht"
    inner_iter: int = 3
    max_iter: int = 100
    tol: float = 1e-10
    xtol: float = 1e-12
    block: int | None = None
    loss: str = "squared"
    step: float | None = None
    ls_iter: int = 50
    ls_tol: float = 1e-12

    def __post_init__(self) -> None:
        check_option(self.method, "method", set(METHODS))
        check_option(self.loss, "loss", set(LOSSES))
        check_int(self.inner_iter, "inner_iter", low=0)
        check_int(self.max_iter, "max_iter", low=1)
        check_float(self.tol, "tol", low=0.0)
        check_float(self.xtol, "xtol", low=0.0)
        if self.block is not None:
            check_int(self.block, "block", low=1)
        if self.step is not None:
            check_float(self.step, "step", low=0.0, low_open=True)
        check_int(self.ls_iter, "ls_iter", low=1)
        check_float(self.ls_tol, "ls_tol", low=0.0)

    def step_options(self) -> dict:
        """The keywords :class:`~sparsecert.recovery.IHTSolver` takes from it (the step and its inner
        solve)."""
        return dict(method=self.method, step=self.step, inner_iter=self.inner_iter, ls_iter=self.ls_iter,
                    ls_tol=self.ls_tol)
