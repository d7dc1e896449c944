"""Operators side by side with signs: ``[s_1 A_1, ..., s_k A_k]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..sparse import SparseVector
from ..validation import warn_deprecated
from .base import REQUIRED, RestrictedOperator, SparseSensingOperator, check_support

if TYPE_CHECKING:
    from ..typing import ArrayLike

__all__ = ["HStackOperator"]


class _RestrictedStack(RestrictedOperator):
    def __init__(self, parent, idx, caches):
        self.indices = idx
        self.parts = []  # (position slice in idx, sign, restricted op)
        for (op, sign, off), cache in zip(parent._layout(), caches):
            lo, hi = np.searchsorted(idx, [off, off + op.shape[1]])
            self.parts.append((slice(lo, hi), sign, op.restrict(idx[lo:hi] - off, cache=cache)))
        self.nbytes = int(sum(R.nbytes for _, _, R in self.parts))
        super().__init__(dtype=parent.dtype, shape=(parent.shape[0], idx.size))

    def _matvec(self, v):
        v = np.ravel(v)
        return sum(sign * R.matvec(v[sl]) for sl, sign, R in self.parts)  # every part: the operator's kind

    def _rmatvec(self, r):
        out = np.empty(self.shape[1], dtype=self.dtype)
        for sl, sign, R in self.parts:
            out[sl] = sign * R.rmatvec(r) if R.shape[1] else 0
        return out

    def to_dense(self):
        return np.hstack([sign * R.to_dense() for _, sign, R in self.parts])


class HStackOperator(SparseSensingOperator):
    """Columns of several operators side by side, each with a sign: ``[s_1 A_1, ..., s_k A_k]``.

    The mixed-sign ReLU model is ``HStackOperator([A_plus, A_minus], signs=[1, -1])``
    (Pilanci & Ergen's split of the output weights into positive and negative
    parts). Streaming, restriction, caches and ``following`` act part by part.

    Parameters
    ----------
    ops : sequence of SparseSensingOperator
        Same number of rows and dtype.
    signs : sequence of {+1, -1}, optional
    """

    def __init__(self, ops: list, signs: ArrayLike | None = None) -> None:
        ops = list(ops)
        if not ops:
            raise TypeError("ops must be a non-empty sequence of SparseSensingOperator")
        for i, op in enumerate(ops):
            missing = [name for name in REQUIRED if not hasattr(op, name)]
            if not isinstance(op, SparseSensingOperator) or missing:
                what = f"lacks {', '.join(missing)}" if missing else f"is a {type(op).__name__}"
                raise TypeError(f"ops[{i}] must be a SparseSensingOperator; it {what}")
        n = ops[0].shape[0]
        if any(op.shape[0] != n or op.dtype != ops[0].dtype for op in ops):
            raise ValueError("ops must share the number of rows and the dtype")
        signs = [1.0] * len(ops) if signs is None else [float(sg) for sg in np.ravel(signs)]
        if len(signs) != len(ops) or any(sg not in (1.0, -1.0) for sg in signs):
            raise ValueError(f"signs must be {len(ops)} values in {{+1, -1}}, got {signs}")
        self.ops, self.signs = ops, signs
        self.offsets = np.cumsum([0] + [op.shape[1] for op in ops])
        super().__init__(dtype=ops[0].dtype, shape=(n, int(self.offsets[-1])))

    def _layout(self):
        return zip(self.ops, self.signs, self.offsets[:-1])

    def _matvec(self, x):
        x = np.ravel(x)
        return sum(sg * op.matvec(x[off : off + op.shape[1]]) for op, sg, off in self._layout())

    def native(self, a: Any) -> Any:
        return self.ops[0].native(a)

    def native_data(self, X: Any) -> Any:
        """Data as the parts keep it (a device tensor for torch parts), for :meth:`with_data`."""
        f = getattr(self.ops[0], "native_data", None)
        return f(X) if callable(f) else X

    def make_cache(self) -> list | None:
        """One cache per part (``None`` when no part keeps anything)."""
        caches = [op.make_cache() for op in self.ops]
        return None if all(c is None for c in caches) else caches

    def cache_nbytes(self, cache: Any) -> int:
        return 0 if cache is None else sum(op.cache_nbytes(c) for op, c in zip(self.ops, cache))

    def _parts(self, cache):
        return [None] * len(self.ops) if cache is None else cache

    def _blocks_rmatvec(self, r, cache=None):
        for (op, sg, off), c in zip(self._layout(), self._parts(cache)):
            for j0, g in op._blocks_rmatvec(r, c):
                yield off + j0, g if sg > 0 else -g

    def _keep(self, cache, offset, length, support, candidates):
        for (op, _, off), c in zip(self._layout(), cache):
            if c is not None and off <= offset < off + op.shape[1]:
                lo, hi = np.searchsorted(support, [off, off + op.shape[1]])
                clo, chi = np.searchsorted(candidates, [off, off + op.shape[1]])
                op._keep(c, offset - off, length, support[lo:hi] - off, candidates[clo:chi] - off)

    @property
    def pass_nbytes(self) -> int:
        return sum(op.pass_nbytes for op in self.ops)

    def cache_nbytes_bound(self, s: int) -> int:
        return sum(op.cache_nbytes_bound(s) for op in self.ops)

    def restricted_nbytes(self, k: int) -> int:
        return sum(op.restricted_nbytes(min(k, op.shape[1])) for op in self.ops)

    def restrict(self, idx: ArrayLike, cache: Any = None) -> RestrictedOperator:
        return _RestrictedStack(self, check_support(idx, self.shape[1]), self._parts(cache))

    def split(self, w: SparseVector) -> list[SparseVector]:
        """The parts of a SparseVector ``w``, one per operator (local indices)."""
        out = []
        for op, _, off in self._layout():
            lo, hi = np.searchsorted(w.indices, [off, off + op.shape[1]])
            out.append(SparseVector(w.indices[lo:hi] - off, w.values[lo:hi], op.shape[1]))
        return out

    def _require(self, method):
        for i, op in enumerate(self.ops):
            if not callable(getattr(op, method, None)):
                raise TypeError(f"HStackOperator.{method} needs it on every part; ops[{i}] ({type(op).__name__}) has none")

    @property
    def d(self) -> int:
        """Columns per hidden unit, the parts' common ``d`` (ReLU-pattern parts of equal ``d``)."""
        ds = {getattr(op, "d", None) for op in self.ops}
        d = ds.pop() if len(ds) == 1 else None
        if d is None:
            raise TypeError("HStackOperator.d needs parts with one common d")
        return int(d)

    def following(self, w: SparseVector | None) -> HStackOperator:
        """The stack of the parts following their slices of ``w`` (see
        :meth:`ReluPatternOperator.following`)."""
        self._require("following")
        return self._with_parts([op.following(part) for op, part in zip(self.ops, self._slices(w))])

    def proposing(self, h: SparseVector | None) -> HStackOperator:
        """The stack of the parts proposing their slices of ``h`` (see
        :meth:`ReluPatternOperator.proposing`)."""
        self._require("proposing")
        return self._with_parts([op.proposing(part) for op, part in zip(self.ops, self._slices(h))])

    def follow_weights(self, w: SparseVector | None) -> None:
        """Deprecated (goes in 0.6): ``A = A.following(w)``; this changes ``A`` in place."""
        warn_deprecated("HStackOperator.follow_weights(w)", "A = A.following(w) (a new view)")
        self.ops = self.following(w).ops

    def propose_generators(self, h: SparseVector | None) -> None:
        """Deprecated (goes in 0.6): ``A = A.proposing(h)``; this changes ``A`` in place."""
        warn_deprecated("HStackOperator.propose_generators(h)", "A = A.proposing(h) (a new view)")
        self.ops = self.proposing(h).ops

    def _slices(self, w):
        return self.split(w) if w is not None else [None] * len(self.ops)

    def _with_parts(self, ops):
        """A shallow copy whose parts are ``ops`` (the same shapes and signs)."""
        new = self._copy()
        new.ops = list(ops)
        return new

    def halfspace_scores(self, r: Any) -> np.ndarray:
        """The parts' scores (:meth:`ReluPatternOperator.halfspace_scores`), shape (parts, 2, d): a
        part of sign -1 fits ``r`` with ``-relu``, so it scores ``-r``."""
        self._require("halfspace_scores")
        return np.concatenate([op.halfspace_scores(sg * r) for op, sg, _ in self._layout()])

    def followed_output(self, cache: Any = None) -> Any:
        """``A w`` for the weights the parts follow: the signed sum of the parts' outputs."""
        self._require("followed_output")
        return sum(sg * op.followed_output(c) for (op, sg, _), c in zip(self._layout(), self._parts(cache)))

    def with_data(self, X: Any, **kwargs: Any) -> HStackOperator:
        """The stack of the parts' ``with_data(X, **kwargs)`` (one ``X`` that they all share)."""
        self._require("with_data")
        return HStackOperator([op.with_data(X, **kwargs) for op in self.ops], self.signs)

    def with_rows(self, rows: Any) -> HStackOperator:
        """The stack of the parts' ``with_rows(rows)`` (the samples ``rows`` of their data, in place)."""
        self._require("with_rows")
        return HStackOperator([op.with_rows(rows) for op in self.ops], self.signs)
