"""Sequential-convex IHT: the generators follow the weights (the recovery paper's experiments)."""

from __future__ import annotations

import numpy as np

from ..validation import check_bool, check_int, check_option
from ..backend import copy, norm, to_numpy
from ..kernels import move_scores
from ..sparse import SparseVector
from .solver import IHTSolver

__all__ = ["SequentialIHTSolver", "UnitRules", "ADMISSIONS", "IDLE_GENERATORS"]

#: Rules for units entering the support at a generator update (see SequentialIHTSolver).
ADMISSIONS = ("adaptive", "halving", "all")

#: Generators of units without weights (see SequentialIHTSolver).
IDLE_GENERATORS = ("residual", "random")

_RISE = 1e-9  # relative rise of the network residual that counts as a rise (beyond round-off)

#: ``unit_moves``: moves are tried only while at most this many units have weights, scored on at
#: most ``MOVE_ROWS`` samples, and the best ``MOVE_CHECKS`` checked on all of them.
MERGE_UNITS = 64
#: ``unit_moves`` also scores moving one feature of a unit to another unit with weights when
#: ``|S| k rows`` (the entries that scoring touches) is at most this.
MOVE_ENTRIES = 2**24
MOVE_ROWS = 4096
MOVE_CHECKS = 3
#: the merge and split scores build their (rows, candidates) output changes this many bytes at a time
#: (whole, they were the peak of an INR fit at m = 100: 8 of its 8.7 MB)
SCORE_CHUNK_BYTES = 2**16

#: ``unit_moves``: a generator update that lowers the best network's residual by less than this
#: fraction counts as a stall, after which unit moves are tried (measured on the regression
#: suite: 0.01 leaves planted cells short, moves at every update cost INR fits 40-90 dB).
STALL = 0.2

#: ``idle="residual"`` proposes one-feature generators only where the budget leaves the units sparse:
#: ``DENSE_UNITS * s <= m d`` (a unit's share of the budget at most a quarter of its d weights).
DENSE_UNITS = 4


#: Generators drawn at a time when :meth:`SequentialIHTSolver._revive_dead_draws` checks them.
_DRAW_CHUNK = 4096


def _host_data(A):
    """The data ``X`` (n, d) of a ReLU-pattern operator or of a stack's first part, as a host
    array (None when the operator keeps it only on a device)."""
    X = getattr(A.ops[0] if hasattr(A, "ops") else A, "X", None)
    return None if X is None else np.asarray(X)


class UnitRules:
    """Rules on the units at a generator update, for IHT solvers on a ReLU-pattern operator
    (:class:`SequentialIHTSolver`, and :class:`~sparsecert.recovery.MinibatchIHTSolver` on its
    batches): the ``"halving"`` admission of entering units (:meth:`_admit`, :meth:`_follow`) and
    the merging of twin units (:meth:`_merge`). Needs ``unit`` (the block width ``d``), ``retries``
    and ``merged``.
    ``none_entering``: the retries end with the candidate in which no unit enters (the support's
    units grown from their own off-support gradient), so that an update which every entering
    unit makes worse can still take a step."""

    none_entering = False

    def _follow(self, cand):
        """Let the generators follow the candidate's weights; its residual becomes the network's.
        Returns the relative residual. ``A_S`` is restricted again when next needed."""
        self.A = self.A.following(SparseVector(cand.S, cand.wS, self.shape[1]))
        cand.r = self.y - self.A.followed_output(self.cache)  # a by-product of the followed masks
        cand.R_S, cand.recurrence = None, False
        return norm(cand.r) / self.ynorm if self.ynorm else 0.0

    def _admit(self, grad, cand, res):
        """When units enter, retry with half, a quarter, ... one of them (and, with ``none_entering``,
        none: the support's own units grown); the best candidate (``cand``, of relative residual
        ``res``, among them), followed.

        Every retry is taken under the patterns the gradient was taken under (the current
        iterate's): the generators are set back before each. A retry may fill the support from
        the units already in it beyond the pass's top-s candidates: their off-support gradient
        is taken here (one restricted product)."""
        gS, cidx, cval = grad
        d = self.unit
        old = np.unique(self.S // d)
        new_units = np.setdiff1d(np.unique(cand.S // d), old)
        if not new_units.size:
            return cand
        units = cidx // d
        fresh = ~np.isin(units, old)
        # rank the entering units by the gradient energy of their candidates
        energy = np.bincount(units[fresh], weights=np.abs(cval[fresh]) ** 2)
        ranked = new_units[np.argsort(-energy[new_units], kind="stable")]
        self.A = current = self.A.following(self.w)  # the current iterate's operator, each retry's start
        cols = (old[:, None] * d + np.arange(d)).ravel()
        cols = cols[~np.isin(cols, self.S, assume_unique=True)]
        g_old = to_numpy(self.A.restrict(cols, cache=self.cache).rmatvec(self.r)) if cols.size else cval[:0]
        top = np.argsort(-np.abs(g_old), kind="stable")[: self.s]
        old_idx, old_val = cols[top], g_old[top]
        tried = [(res, cand)]
        E = new_units.size // 2
        while E >= (0 if self.none_entering and old.size else 1):
            keep = np.isin(units, ranked[:E])
            c = self._candidate(gS, np.concatenate([old_idx, cidx[keep]]), np.concatenate([old_val, cval[keep]]))
            if c is None:
                break
            self.retries += 1
            tried.append((self._follow(c), c))
            self.A = current
            E = E // 2 if E > 1 else E - 1
        best = min(tried, key=lambda t: t[0])[1]
        self._follow(best)
        return best

    def _merge(self, cand):
        """Merge units whose weights are positive multiples of each other (same features,
        parallel values, same part of a stack): ``relu(X a) + relu(X c a) = relu(X (1 + c) a)``
        for ``c > 0``, so the network and its residual stay while the merged-away units'
        weights are freed for the next step. Such twins are equal columns of ``A_S``, on which
        the inner solve splits the weight and the thresholding keeps both."""
        S, d = cand.S, self.unit
        if S.size < 2:
            return
        units, start = np.unique(S // d, return_index=True)
        if units.size < 2:
            return
        wS = to_numpy(cand.wS)
        part = self._parts_of(units)
        bounds = np.append(start, S.size)
        groups = {}
        for j in range(units.size):
            a, b = bounds[j], bounds[j + 1]
            v = wS[a:b]
            key = (int(part[j]), tuple(S[a:b] - units[j] * d), tuple(np.round(v / np.linalg.norm(v), 12)))
            groups.setdefault(key, []).append((a, b))
        twins = [g for g in groups.values() if len(g) > 1]
        if not twins:
            return
        keep = np.ones(S.size, bool)
        merged = copy(cand.wS)  # a NumPy array or a device tensor
        for (a0, b0), *rest in twins:
            for a, b in rest:
                merged[a0:b0] = merged[a0:b0] + merged[a:b]
                keep[a:b] = False
        cand.S, cand.wS = S[keep], merged[keep]
        cand.same = bool(np.array_equal(cand.S, self.S))
        self.merged += int((~keep).sum())
        self._follow(cand)

    def _part_offsets(self):
        """First unit of each part of a stack (e.g. [A_+, -A_-]) and the end: ``[0, m]`` for one operator."""
        return getattr(self.A, "offsets", np.array([0, self.shape[1]])) // self.unit

    def _parts_of(self, units):
        """Index of the part of each unit (0 for A_+, 1 for -A_-; zeros for one operator)."""
        return np.searchsorted(self._part_offsets(), units, "right") - 1


class SequentialIHTSolver(UnitRules, IHTSolver):
    """IHT on a ReLU-pattern operator whose generators become the weights, ``h_j = w_j``.

    Every ``period`` steps the operator's generators follow the new fused
    weights (``A = A.following(w)``: blocks with weights take them, the
    others keep their draw), so ``A w`` is the network's own output and the
    residual is the network's. The sequence is not monotone (the operator
    changes), so the result reports the iterate whose network fitted best
    (``info["best_iter"]``), and the operator is left following it;
    ``residuals`` records the whole run.

    A unit (block) entering the support gets weights fitted under its random
    pattern; once its generator follows them its pattern is its own, which
    the fit did not see. When many units enter at once with few weights
    each, as on wide nets fitted to few samples, the update loses the fit
    and the published rule never recovers it (docs/explanations, "Sequential-convex
    IHT: the diagnosis"). The ``admission`` rules:

    * ``"all"``: every unit the thresholding picks enters (the published rule).
    * ``"halving"``: when a generator update brings in new units, it is
      retried from the same gradient with half, a quarter, ... down to one of
      the entering units (those with the most gradient energy; the support
      filled from the units already in it), and the candidate whose network
      fits best is taken, the update with every entering unit among them.
      Until 0.4.12 only an update that would raise the network's residual was
      retried; one that lowers it can still be beaten by fewer units (INR of
      Fashion-MNIST test image 1000, s = 1000, seed 0: at m = 50 every unit
      entered at the first update, 49 of 50 kept ~20 weights each and the fit
      ended at 23.9 dB, against 69.4 dB when it is retried; m = 100, whose
      first update raised the residual, had kept 8 units).
    * ``"adaptive"`` (default): ``"halving"`` from the first update where the
      idle units take the residual's one-feature generators (``idle`` below;
      ``info["switched_at"]`` is then 0); otherwise ``"all"`` until
      ``patience`` updates in a row fail to improve on the best network so
      far, then back to the best iterate and ``"halving"`` from there on
      (``info["switched_at"]``). A unit entering under a one-feature
      generator keeps its pattern, so updates that bring units in seldom
      raise the residual: there halving costs a few retries per update that
      brings units in and, where the update with every entering unit is the
      best tried (planted nets, n >> s), leaves the iterates those of
      ``"all"``, while the stall that triggers the switch comes only once every unit
      has entered, too late for halving to help (INR of mnist5k digits, m =
      50, s = 1000: 24-36 dB, against 58-200 dB halving from the start;
      docs/explanations, "Sequential-convex IHT"). Under random idle generators units
      enter with patterns their weights replace; halving from the start then
      admits units too slowly for the paper's 15-iteration planted runs
      (benchmark instance: 24.1 against 34.0 dB), so the switch waits for
      the stall.

    Units without weights need a generator too; its pattern decides what a
    weight entering there can fit. ``idle``:

    * ``"random"``: they keep their random draw (the published rule).
    * ``"residual"`` (default): at the start and after every generator
      update, the idle units take, one each and best first, the one-feature
      generators ``sigma e_k`` whose unit fits the network's residual best
      (:meth:`~sparsecert.operators.ReluPatternOperator.halfspace_scores`,
      one O(n d) pass); units beyond the positive scores keep their draw. A
      unit then enters with the pattern of a feature's half-space, which its
      own weight keeps, instead of a random pattern that the first generator
      update replaces. Measured on planted nets (docs/explanations, "Idle units"):
      the small-``s`` corner went from ~30 dB to exact fits. Only where the
      budget leaves units sparse (``4 s <= m d``): with denser units a
      random generator is the better start (planted m = 10, s = 1000 = m d,
      n = 50,000: 39.7 dB against the published rule's 213 dB in 60
      iterations).

    A support can hold two true units' weights on one unit, or one unit's
    weights on two; no thresholding step undoes either. With ``unit_moves``,
    after a generator update that lowers the best network's residual by less
    than ``STALL`` (20 %), the solver scores every merge of two units,
    every split of one feature off a unit into a free one and every move of
    one feature to another unit with weights (:meth:`_restructure`; the last
    mends a unit spread over units that hold others when none is free) and
    takes one that lowers the network's residual; ``info["unit_moves"]``
    counts them.

    With ``merge_twins``, after each update units whose weights are positive
    multiples of each other are merged into one (the network is unchanged:
    ``relu(X a) + relu(X c a) = relu(X (1 + c) a)``, ``c > 0``), which frees
    their weights; ``info["merged_weights"]`` counts the weights freed so.

    Parameters
    ----------
    A : ReluPatternOperator or HStackOperator of them
        Anything with ``following``, ``followed_output`` and ``d``.
    period : int
        Steps between generator updates, ``>= 1``.
    admission : {"adaptive", "halving", "all"}
        See above. ``"halving"`` costs, on the steps that bring units in, up
        to ``log2(entering units)`` retries (each a
        restriction, the inner solve and the network's output; no new
        gradient pass); on nets where the published rule converges it admits
        units too slowly for short runs (the paper's 15 iterations).
    patience : int
        ``"adaptive"``: updates in a row without a new best network before
        the switch, ``>= 1``.
    idle : {"residual", "random"}
        Generators of units without weights (above). ``"residual"`` costs one
        pass over ``X`` per generator update (O(n d), against the gradient's
        O(n d m)).
    unit_moves : bool
        Merges, splits and feature moves (above). Costs, on a stall, O(rows (d k
        + k^2)) to score merges and splits (``k`` units with weights, at most
        ``MERGE_UNITS`` = 64, else skipped; ``rows`` at most ``MOVE_ROWS`` =
        4096 evenly spaced samples), O(rows |S| k) for the feature moves (scored
        only while that is at most ``MOVE_ENTRIES`` = 2^24) and up to three
        O(n nnz) checks; nothing on nets with more units.
    merge_twins : bool
        Merge twin units (above). Off by default: it fixes supports filled
        with copies of one unit (the small-s planted corner) but, on planted
        nets with many one-weight units on few features (n = 50,000, d = 100,
        m = s = 1000), the run degrades (docs/explanations, "Twin units").
    **kwargs
        As for :class:`IHTSolver`.
    """

    def __init__(self, A, y, s, *, period=1, admission="adaptive", patience=2, idle="residual", unit_moves=True,
                 merge_twins=False, **kwargs):
        if not all(callable(getattr(A, f, None)) for f in ("following", "followed_output")) or not hasattr(A, "d"):
            raise TypeError(f"sequential IHT needs an operator with following, followed_output and d "
                            f"(ReLU-pattern), got {type(A).__name__}")
        self.idle = check_option(idle, "idle", set(IDLE_GENERATORS))
        if self.idle == "residual" and not all(callable(getattr(A, f, None))
                                               for f in ("proposing", "halfspace_scores")):
            raise TypeError(f'idle="residual" needs an operator with proposing and halfspace_scores '
                            f'(ReLU-pattern), got {type(A).__name__}; use idle="random"')
        self.period = check_int(period, "period", low=1)
        self.admission = check_option(admission, "admission", set(ADMISSIONS))
        self.patience = check_int(patience, "patience", low=1)
        self.unit_moves = check_bool(unit_moves, "unit_moves")
        self.merge_twins = check_bool(merge_twins, "merge_twins")
        self.unit = int(A.d)
        super().__init__(A, y, s, **kwargs)

    def setup(self, w0=None):
        super().setup(w0)
        self.best = (1.0 if self.ynorm else 0.0, self.w, 0)  # (relative residual, w, iteration)
        self.retries = self.merged = self.moves = 0
        proposes = self._proposes()
        from_start = self.admission == "adaptive" and proposes  # else "adaptive" switches on a stall
        self.halving = self.admission == "halving" or from_start
        self.switched_at, self._misses = (0 if from_start else None), 0
        if proposes:
            self._propose()
        else:
            self._revive_dead_draws()
        return self

    def _revive_dead_draws(self):
        """Random idle generators on nonnegative data: negate each draw ``h_j < 0`` (every entry).

        With ``X >= 0`` such a unit's pattern ``1[X h_j >= 0]`` keeps only rows that are zero on
        every feature, so its block of ``A`` is zero and no weight can ever enter it; ``-h_j``
        gives it the all-ones pattern (a linear unit). Other draws, and all draws on data of
        either sign, are kept. Matters for few nonnegative features: the layers after the first
        of a deep fit (one input: half the draws are dead, and a width-1 layer then fits
        nothing). Proposed once (``A.proposing``, after clearing an earlier
        solver's proposal so that the draws are read), so it holds whenever such a block has
        no weights; O(n d) to check the data and O(m d) for the draws."""
        X = _host_data(self.A)
        if X is None or X.size == 0 or X.min() < 0 or not callable(getattr(self.A, "proposing", None)):
            return
        self.A = self.A.proposing(None)
        parts = self.A.ops if hasattr(self.A, "ops") else [self.A]
        d, cols, vals = self.unit, [], []
        for op, start in zip(parts, self._part_offsets()[:-1]):
            for j0 in range(0, op.m, _DRAW_CHUNK):
                H = op.generators(j0, min(op.m, j0 + _DRAW_CHUNK))
                dead = np.flatnonzero((H < 0).all(axis=1))
                cols.append(((start + j0 + dead)[:, None] * d + np.arange(d)).ravel())
                vals.append(-H[dead].ravel())
        if sum(c.size for c in cols):
            self.A = self.A.proposing(SparseVector(np.concatenate(cols), np.concatenate(vals), self.shape[1]))

    def _proposes(self):
        """Whether idle units take the residual's one-feature generators (``idle="residual"``
        where units are sparse, ``DENSE_UNITS * s <= m d``)."""
        return self.idle == "residual" and DENSE_UNITS * self.s <= self.shape[1]

    def _propose(self):
        """``idle="residual"``: give the units without weights, one each, the one-feature
        generators that fit the residual best (positive scores only, best first)."""
        if not self._proposes():
            return
        d, N = self.unit, self.shape[1]
        offsets = self._part_offsets()
        scores = self.A.halfspace_scores(self.r)  # (parts, 2, d)
        active = np.unique(self.S // d)
        idx = []
        for p, sc in enumerate(scores):
            blocks = np.arange(offsets[p], offsets[p + 1])
            blocks = blocks[~np.isin(blocks, active, assume_unique=True)]
            flat = sc.ravel()
            best = np.argsort(-flat, kind="stable")[: blocks.size]
            best = best[flat[best] > 0]
            idx.append((blocks[: best.size] * d + best % d, np.where(best < d, 1.0, -1.0)))
        i = np.concatenate([a for a, _ in idx])
        v = np.concatenate([b for _, b in idx])
        order = np.argsort(i)
        self.A = self.A.proposing(SparseVector(i[order], v[order], N))

    def _restructure(self):
        """Take a unit move that lowers the network's residual, the best-scored first.

        The moves: merge two units of one part (the union of their features and the sum of
        their weights, on the first unit's block; its pre-activation is the sum of theirs),
        split one feature off a unit with more than one into a free block of its part, and
        move one such feature to another unit of its part that lacks it. All are
        scored at once from the units' pre-activations ``Z = X W^T`` on at most
        ``MOVE_ROWS`` evenly spaced samples (O(rows (d k + k^2)) for ``k`` units with weights,
        tried only with ``1 <= k <= MERGE_UNITS``); the best few (each unit's best merge, best
        split and best move) are then checked on all samples, O(n nnz) each, and the first that lowers
        the residual is taken. Returns whether one was (the iterate and residual are then the
        new network's).
        """
        S, d = self.S, self.unit
        X = _host_data(self.A)
        units, start = np.unique(S // d, return_index=True)
        if X is None or not 1 <= units.size <= MERGE_UNITS:
            return False
        step = -(-X.shape[0] // MOVE_ROWS)
        part = self._parts_of(units)
        u = _Units(X[::step], to_numpy(self.r)[::step], S, to_numpy(self.wS), d, units, np.append(start, S.size), part,
                   np.asarray(getattr(self.A, "signs", [1.0]))[part])
        base = u.base
        found = _merges(u) + _splits(u, self._part_offsets()) + _feature_moves(u)
        now = norm(self.r)
        for val, S2, w2 in sorted(found, key=lambda f: f[0])[:MOVE_CHECKS]:
            if val >= base * (1.0 - _RISE) ** 2:
                break
            order = np.argsort(S2, kind="stable")
            self.A = self.A.following(SparseVector(S2[order], w2[order], self.shape[1]))
            r2 = self.y - self.A.followed_output(self.cache)
            if norm(r2) < now * (1.0 - _RISE):
                self.S, self.wS, self.r = S2[order], w2[order], r2
                self.R_S, self._since_exact = None, 0
                self.moves += 1
                return True
        self.A = self.A.following(self.w)
        return False

    def _restart(self):
        """Back to the best iterate (the operator following it), from where ``"halving"`` goes on."""
        self.S, self.wS = self.best[1].indices, self.best[1].values
        self.A = self.A.following(self.best[1])
        self.r = self.y - self.A.followed_output(self.cache) if self.S.size else copy(self.y)
        self.R_S, self._since_exact = None, 0
        self.halving, self.switched_at = True, self.n_iter + 1
        self._propose()

    def _step(self):
        it = self.n_iter + 1
        if it % self.period:
            return super()._step()
        grad = self._gradient()
        cand = None if grad is None else self._candidate(*grad)
        if cand is None:
            return self._accept(None)  # the gradient or the step overflowed: stop, keep w
        res = self._follow(cand)
        if self.halving:
            cand = self._admit(grad, cand, res)
        if self.merge_twins:
            self._merge(cand)
        out = self._accept(cand)
        if self.unit_moves and self.rel_residual > self.best[0] * (1.0 - STALL) and self._restructure():
            out = (out[0], False, np.inf)  # the iterate moved: not stationary
        if self.rel_residual < self.best[0]:  # the network's own residual
            self.best, self._misses = (self.rel_residual, self.w, it), 0
        elif self.admission == "adaptive" and not self.halving:
            self._misses += 1
            if self._misses >= self.patience:
                self._restart()  # proposes from the best iterate's residual
                return out[0], False, np.inf  # the step taken is undone: no stationarity to read
        self._propose()
        return out

    def _best_is_earlier(self):
        return self.best[0] < self.residuals[-1]

    def result_w(self):
        return self.best[1] if self._best_is_earlier() else self.w

    def finalize(self, **info):
        if self._best_is_earlier():
            self.A = self.A.following(self.best[1])  # the operator describes the network returned
        return super().finalize(best_iter=self.best[2], admission_retries=self.retries, switched_at=self.switched_at,
                                merged_weights=self.merged, unit_moves=self.moves, **info)


class _Units:
    """The units with weights of a sparse iterate, on the rows the unit moves are scored on: their
    weights ``W`` (k, d), pre-activations ``Z = X W^T`` and outputs ``O`` (rows, k), and what each
    move needs (the support ``S`` sorted by unit, ``bounds`` of each unit's run in it, its ``feat``
    and ``wS``, each unit's ``part`` and output sign ``sg``, ``base = ||r||^2`` on the rows)."""

    def __init__(self, X, r, S, wS, d, units, bounds, part, sg):
        self.X, self.r, self.S, self.wS, self.d, self.units, self.bounds, self.part, self.sg = (
            X, r, S, wS, d, units, bounds, part, sg)
        self.k, self.feat = units.size, S % d
        self.W = np.zeros((self.k, d), wS.dtype)
        self.W[np.repeat(np.arange(self.k), np.diff(bounds)), self.feat] = wS
        self.Z = X @ self.W.T  # (rows, k) pre-activations
        self.O = sg * np.maximum(self.Z, 0)  # the units' outputs
        self.base = float(r @ r)

    def scores(self, D_of, count):
        """``||r - D||^2`` for each of ``count`` columns of output changes ``D_of(c0, c1)`` builds, a chunk
        of at most SCORE_CHUNK_BYTES at a time."""
        out, step = np.empty(count), max(1, SCORE_CHUNK_BYTES // (8 * self.X.shape[0]))
        for c0 in range(0, count, step):
            D = D_of(c0, min(count, c0 + step))
            out[c0 : c0 + D.shape[1]] = self.base - 2.0 * (self.r @ D) + np.einsum("ij,ij->j", D, D)
        return out


def _merges(u):
    """Each unit's best merge with a later unit of its part: ``(||r_new||^2 on the rows, S, w)``."""
    found, Z, O, sg, S, d = [], u.Z, u.O, u.sg, u.S, u.d
    for i in range(u.k - 1):
        js = np.arange(i + 1, u.k)
        js = js[u.part[js] == u.part[i]]
        if js.size:
            val = u.scores(lambda c0, c1: sg[i] * np.maximum(Z[:, i : i + 1] + Z[:, js[c0:c1]], 0) - O[:, i : i + 1]
                           - O[:, js[c0:c1]], js.size)
            t = int(np.argmin(val))
            merged = u.W[i] + u.W[js[t]]
            f = np.flatnonzero(merged)
            keep = (S // d != u.units[i]) & (S // d != u.units[js[t]])
            found.append((val[t], np.concatenate([S[keep], u.units[i] * d + f]),
                          np.concatenate([u.wS[keep], merged[f]])))
    return found


def _splits(u, offsets):
    """Each unit's best split of one feature into a free block of its part (``offsets``: the parts'
    first blocks): ``(||r_new||^2 on the rows, S, w)``."""
    found = []
    for i in range(u.k):
        a, b = u.bounds[i], u.bounds[i + 1]
        free = np.setdiff1d(np.arange(offsets[u.part[i]], offsets[u.part[i] + 1]), u.units, assume_unique=True)
        if b - a < 2 or not free.size:
            continue

        def split(c0, c1):
            Zt = u.X[:, u.feat[a + c0 : a + c1]] * u.wS[a + c0 : a + c1]  # the split-off features' pre-activations
            return u.sg[i] * (np.maximum(u.Z[:, i : i + 1] - Zt, 0) + np.maximum(Zt, 0)) - u.O[:, i : i + 1]

        val = u.scores(split, b - a)
        t = int(np.argmin(val))
        S2 = u.S.copy()
        S2[a + t] = free[0] * u.d + u.feat[a + t]
        found.append((val[t], S2, u.wS))
    return found


def _feature_moves(u):
    """Each unit's best move of one feature to another unit of its part that lacks it (when
    ``|S| k rows <= MOVE_ENTRIES``): ``(||r_new||^2 on the rows, S, w)``."""
    if u.S.size * u.k * u.X.shape[0] > MOVE_ENTRIES:
        return []
    has = np.zeros((u.k, u.d), bool)
    has[np.repeat(np.arange(u.k), np.diff(u.bounds)), u.feat] = True
    val = move_scores(u.X, u.r, u.Z, u.O, u.sg.astype(float), u.part, u.feat, u.wS, u.bounds, has)
    found = []
    for i in range(u.k):
        a, b = u.bounds[i], u.bounds[i + 1]
        if b - a < 2:
            continue
        t, j = np.unravel_index(int(np.argmin(val[a:b])), (b - a, u.k))
        if np.isfinite(val[a + t, j]):
            S2 = u.S.copy()
            S2[a + t] = u.units[j] * u.d + u.feat[a + t]
            found.append((val[a + t, j], S2, u.wS))
    return found
