"""Iterative hard thresholding on implicit operators: IHT, NIHT, AIHT and HTP.

All four methods share one solver (:class:`IHTSolver`, with
``setup / step / run / finalize``; :func:`iht` runs it) that solves

    minimise ||y - A w||_2   subject to   ||w||_0 <= s

with ``A`` an n x N :class:`~sparsecert.operators.SparseSensingOperator`.
Each iteration makes one streaming pass over ``g = A^T (y - A w)`` that
keeps ``g`` on the current support ``S`` and the top-s of ``|g|`` outside
it -- enough to form ``H_s(w + mu g)`` for every step ``mu > 0`` -- and all
other products use ``A_S`` restricted to at most ``2 s`` columns. No vector
of length N is ever formed.

Variants share the template (``run``, ``finalize``) and, for the convex
reformulation, :meth:`IHTSolver.step` itself: :class:`SequentialIHTSolver`
(generators follow the weights), :class:`MinibatchIHTSolver` (one step per
batch); :class:`FactoredIHTSolver` (vector outputs, both layers thresholded
together) brings its own step. Every run ends in a :class:`RecoveryResult` whose ``status`` is
one of :data:`STATUSES`; when a run stops is a composable criterion (:mod:`.stopping`:
``MaxIterations(500) | RelativeResidual(1e-10) | TimeLimit(5.0)``).

Methods
-------
``"iht"``   fixed step ``mu`` (Blumensath & Davies 2009), default
            ``mu = 1 / L_2s`` with ``L_2s`` the largest squared norm of a
            2s-column submatrix, estimated by the truncated power method
            (:func:`restricted_norm_sq`): the restricted-smoothness step. Its
            guarantee needs a stronger restricted isometry than NIHT's; see
            the tests for the regime where it recovers.
``"niht"``  normalised IHT (Blumensath & Davies 2010):
            ``mu = ||g_S||^2 / ||A_S g_S||^2`` with the step-shrinking safeguard when the
            support changes (``kappa = 2``, ``c = 0.01``).
``"aiht"``  accelerated IHT (Blumensath 2012): the NIHT step, then
            ``inner_iter`` conjugate-gradient steps on the least-squares
            problem restricted to the new support (the first is the
            exact-line-search gradient step).
``"htp"``   hard thresholding pursuit (Foucart 2011): the NIHT step picks the
            support, then least squares on it (directly for small supports,
            ``n |S|^2 <= DIRECT_LS_FLOPS``; else CGLS to ``ls_tol``).
"""

from .config import IHT, LOSSES, METHODS
from .factored import IDLE_SCORED, FactoredIHTSolver
from .amp import amp, bernoulli_gaussian_posterior
from .greedy import IHT_OMP_FIRST, IHT_PASSES, iht_omp, omp
from .penalized import mcp_path
from .minibatch import MinibatchIHTSolver
from .result import STATUSES, RecoveryResult
from .portfolio import PATH_FITS, portfolio
from .published import published_aiht
from .sequential import ADMISSIONS, IDLE_GENERATORS, SequentialIHTSolver
from .solver import IHTSolver, IterativeSolver, iht
from .steps import restricted_norm_sq
from .stopping import AnyOf, MaxIterations, RelativeResidual, Stagnation, StoppingCriterion, TimeLimit

__all__ = [
    "IHT",
    "METHODS",
    "STATUSES",
    "FactoredIHTSolver",
    "IDLE_SCORED",
    "IHTSolver",
    "IterativeSolver",
    "MinibatchIHTSolver",
    "RecoveryResult",
    "SequentialIHTSolver",
    "ADMISSIONS",
    "IDLE_GENERATORS",
    "LOSSES",
    "published_aiht",
    "iht",
    "iht_omp",
    "IHT_PASSES",
    "IHT_OMP_FIRST",
    "omp",
    "amp",
    "bernoulli_gaussian_posterior",
    "mcp_path",
    "portfolio",
    "PATH_FITS",
    "restricted_norm_sq",
    "StoppingCriterion",
    "MaxIterations",
    "RelativeResidual",
    "Stagnation",
    "TimeLimit",
    "AnyOf",
]
