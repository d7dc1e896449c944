"""The two choices that make IHT's methods differ, as objects the solver picks once, when it is made.

* the **step rule** -- how far along the gradient a step goes: :class:`FixedStep` (IHT),
  :class:`NormalizedStep` (NIHT's ``||g_S||^2 / ||A_S g_S||^2``; AIHT's too) and
  :class:`RayleighStep` (HTP: the Rayleigh quotient along ``w_S``, NIHT's where it is undefined);
* the **inner solver** -- what runs on the new support: :class:`NoInner` (IHT, NIHT),
  :class:`ConjugateGradient` (AIHT's ``k`` CG steps) and :class:`LeastSquares` (HTP).

:func:`rules_for` maps a method name to its pair. Each rule reads the solver's public state (``A``,
``y``, ``r``, ``S``, ``wS``, ``s``, ``cache``) and changes none of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import norm
from .steps import cgls, hard_threshold, least_squares

__all__ = ["FixedStep", "NormalizedStep", "RayleighStep", "NoInner", "ConjugateGradient", "LeastSquares",
           "rules_for"]


@dataclass(frozen=True)
class FixedStep:
    """The step ``mu`` every iteration (no safeguard, no residual recurrence)."""

    mu: float
    adaptive = False

    def size(self, solver, gS, cidx, cval, R_S):
        """``(mu, along_S, R_G, A g, g_scale)`` (see :meth:`NormalizedStep.size`)."""
        return self.mu, True, R_S, None, 1.0


@dataclass(frozen=True)
class NormalizedStep:
    """NIHT's step ``||g||^2 / ||A g||^2`` on the support (on the best s candidates at ``w = 0``),
    with ``A g`` for the residual recurrence."""

    adaptive = True

    def size(self, solver, gS, cidx, cval, R_S):
        """``(mu, along_S, R_G, A g, g_scale)``, or None where no step can be taken: ``A g`` is kept as
        ``A u``, ``u = g / ||g||``, with ``g_scale = ||g||`` where ``A g`` would overflow."""
        G_g, R_G = gS, R_S
        if not solver.S.size:
            G_idx, G_g = hard_threshold(cidx, cval, solver.s)
            R_G = solver.A.restrict(G_idx, cache=solver.cache)
        # mu = ||g||^2 / ||A g||^2 from the product on the unit direction (no overflow at any
        # scale; g is finite, checked by the pass)
        gn = norm(G_g)
        Ag = R_G.matvec(G_g / gn) if gn > 0 else R_G.matvec(G_g)
        an = norm(Ag)
        inv = 1.0 / an if gn > 0 and an > 0 else 1.0
        mu = inv * inv  # (1 / ||A u||)^2; products, not **: a Python float ** 2 raises OverflowError
        if not np.isfinite(an) or mu == 0.0:
            return None  # an overflowing product or an unrepresentable step: stop, keep w
        if 1e-150 < gn < 1e150:  # A_S g_S itself, for the residual recurrence
            return mu, True, R_G, Ag * gn, 1.0
        return mu, True, R_G, Ag, gn if gn > 0 else 1.0  # kept as A_S u (A_S g_S would overflow or underflow)


@dataclass(frozen=True)
class RayleighStep(NormalizedStep):
    """HTP's step: ``w_S`` solves least squares on ``S``, so ``g_S`` is round-off and NIHT's ratio on
    it noise (the path then depended on summation order); the Rayleigh quotient along ``w_S``,
    ``||w_S||^2 / ||A_S w_S||^2`` with ``A_S w_S = y - r`` (no product), instead. NIHT's step where
    it is undefined (an empty support, a zero fit)."""

    def size(self, solver, gS, cidx, cval, R_S):
        wn, fn = (norm(solver.wS), norm(solver.y - solver.r)) if solver.S.size else (0.0, 0.0)
        if wn > 0 and fn > 0:
            mu = (wn / fn) * (wn / fn)
            return None if not np.isfinite(mu) or mu == 0.0 else (mu, False, R_S, None, 1.0)
        return super().size(solver, gS, cidx, cval, R_S)


@dataclass(frozen=True)
class NoInner:
    """Nothing on the new support: the residual from the recurrence, else one product."""

    def solve(self, R_T, y, wT, r_T):
        """``(w_T, r)`` after the inner solve from ``w_T`` (``r_T``: its residual when known)."""
        return wT, (r_T if r_T is not None else y - R_T.matvec(wT))


@dataclass(frozen=True)
class ConjugateGradient:
    """``k`` conjugate-gradient (CGLS) steps on the least-squares problem on the new support."""

    k: int

    def solve(self, R_T, y, wT, r_T):
        return cgls(R_T, y, wT, self.k, 0.0, res=r_T, fused=True)


@dataclass(frozen=True)
class LeastSquares:
    """Least squares on the new support (directly when small, else CGLS to ``tol``)."""

    iters: int
    tol: float

    def solve(self, R_T, y, wT, r_T):
        return least_squares(R_T, y, wT, self.iters, self.tol, res=r_T)


def rules_for(method, step, inner_iter, ls_iter, ls_tol):
    """The ``(step rule, inner solver)`` of ``method`` (``step``: a fixed step, or None)."""
    rule = FixedStep(step) if step is not None else RayleighStep() if method == "htp" else NormalizedStep()
    inner = (ConjugateGradient(inner_iter) if method == "aiht" and inner_iter
             else LeastSquares(ls_iter, ls_tol) if method == "htp" else NoInner())
    return rule, inner
