"""Sequential-convex IHT: the generators follow the weights (the recovery paper's experiments)."""

from __future__ import annotations

from .._validation import check_int
from .solver import IHTSolver

__all__ = ["SequentialIHTSolver"]


class SequentialIHTSolver(IHTSolver):
    """IHT on a ReLU-pattern operator whose generators become the weights, ``h_j = w_j``.

    Every ``period`` steps (after :meth:`IHTSolver.step`) the operator's
    generators follow the current fused weights (``A.follow_weights(w)``:
    blocks with weights take them, the others keep their draw) and ``A_S``
    and the residual are recomputed. The sequence is not monotone (the
    operator changes), so the result reports the iterate whose network fitted
    best (``info["best_iter"]``), and the operator is left following it;
    ``residuals`` records the whole run.

    Parameters
    ----------
    A : ReluPatternOperator or HStackOperator of them
        Anything with ``follow_weights``.
    period : int
        Steps between generator updates, ``>= 1``.
    **kwargs
        As for :class:`IHTSolver`.
    """

    def __init__(self, A, y, s, *, period=1, **kwargs):
        if not all(callable(getattr(A, f, None)) for f in ("follow_weights", "followed_output")):
            raise TypeError(f"sequential IHT needs an operator with follow_weights (ReLU-pattern), got {type(A).__name__}")
        self.period = check_int(period, "period", low=1)
        super().__init__(A, y, s, **kwargs)

    def setup(self, w0=None):
        super().setup(w0)
        self.best = (1.0 if self.ynorm else 0.0, self.w, 0)  # (relative residual, w, iteration)
        return self

    def _step(self):
        out = super()._step()
        it = self.n_iter + 1
        if it % self.period == 0:
            self.A.follow_weights(self.w)
            # every block with weights is its own generator: A w is the network output,
            # a by-product of the followed masks (no restricted product)
            self.R_S = self.A.restrict(self.S, cache=self.cache)
            self.r = self.y - self.A.followed_output(self.cache)
            self._since_exact = 0
            if self.rel_residual < self.best[0]:  # the network's own residual
                self.best = (self.rel_residual, self.w, it)
        return out

    def _best_is_earlier(self):
        return self.best[0] < self.residuals[-1]

    def result_w(self):
        return self.best[1] if self._best_is_earlier() else self.w

    def finalize(self, **info):
        if self._best_is_earlier():
            self.A.follow_weights(self.best[1])  # the operator describes the network returned
        return super().finalize(best_iter=self.best[2], **info)
