"""Implicit sensing operators: A is applied block by block and never stored.

Two operators share one interface (:class:`SparseSensingOperator`, a
``scipy.sparse.linalg.LinearOperator``):

* :class:`GaussianOperator` -- i.i.d. N(0, 1/n) entries regenerated on the
  fly from a counter-based (Philox) stream, so any column block is
  reproducible from the seed alone.
* :class:`ReluPatternOperator` -- the convex reformulation of a two-layer
  ReLU network, ``A = [D_1 X, ..., D_m X]`` with
  ``D_j = diag(1[X h_j >= 0])``; column ``j * d + k`` is ``D_j X[:, k]``.

Beyond ``matvec``/``rmatvec`` each operator offers what IHT needs to stay
memory-linear: :meth:`~SparseSensingOperator.gradient_split` (one streaming
pass of ``A^T r`` that keeps only the values on the current support and the
top-k outside it) and :meth:`~SparseSensingOperator.restrict` (the n x |S|
submatrix ``A_S`` as an operator).
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import kernels
from ._validation import check_array, check_dtype, check_int, seed_from_rng
from .sparse import SparseVector, StreamingTopK

__all__ = [
    "counter_normals",
    "SparseSensingOperator",
    "RestrictedOperator",
    "DenseOperator",
    "GaussianOperator",
    "HStackOperator",
    "ReluPatternOperator",
]

#: Bytes one streaming block may use for its largest work array (n x block).
DEFAULT_BLOCK_BYTES = 64 * 2**20


_local = threading.local()


def _philox_at(key, counter):
    """A Philox bit generator for ``key`` positioned at ``counter`` (cached per thread)."""
    cache = getattr(_local, "philox", None)
    if cache is None:
        cache = _local.philox = {}
    entry = cache.get(key)
    if entry is None:
        if len(cache) > 64:
            cache.clear()
        bitgen = np.random.Philox(key=key)
        entry = cache[key] = (bitgen, bitgen.state)
    bitgen, state = entry
    state["state"]["counter"][:] = (counter & (2**64 - 1), counter >> 64, 0, 0)
    state["buffer_pos"] = 4  # empty buffer: the next word comes from `counter`
    bitgen.state = state  # about 3 us, against about 30 us for a new Philox
    return bitgen


def counter_normals(key, first_row, n_rows, row_len, dtype=np.float64):
    """Rows ``first_row .. first_row + n_rows - 1`` of a keyed stream of N(0, 1) rows.

    Row ``i`` of the stream depends only on ``(key, i, row_len)``: it is read
    from the Philox counter ``i * ceil(row_len / 4)`` onward (4 words per
    counter) and mapped to normals by Box-Muller, one word per entry
    (:func:`sparsecert.kernels.box_muller`). So any block of rows can be
    regenerated in any order, on any executor.

    Returns
    -------
    ndarray, shape (n_rows, row_len)
    """
    words = -(-row_len // 4)  # Philox counters per row
    bitgen = _philox_at(int(key), int(first_row) * words)
    raw = bitgen.random_raw(n_rows * words * 4)
    z = kernels.box_muller(raw, np.empty(raw.size)).reshape(n_rows, words * 4)[:, :row_len]
    return np.ascontiguousarray(z, dtype=dtype)


def _contains(sorted_arr, x):
    i = np.searchsorted(sorted_arr, x)
    return i < sorted_arr.size and sorted_arr[i] == x


def _check_support(idx, N, name="idx"):
    idx = np.asarray(idx)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-d array of integer column indices")
    idx = idx.astype(np.int64)
    if idx.size and (idx[0] < 0 or idx[-1] >= N or np.any(np.diff(idx) <= 0)):
        raise ValueError(f"{name} must be strictly increasing column indices within [0, {N})")
    return idx


def _block_size(block, n, N):
    """Columns per streaming block: given, or about DEFAULT_BLOCK_BYTES of n x block."""
    if block is None:
        block = min(4096, max(1, DEFAULT_BLOCK_BYTES // (8 * n)))
    return min(check_int(block, "block", low=1), N)


class RestrictedOperator(LinearOperator):
    """``A_S``: the n x |S| submatrix of a sensing operator for a support ``S``.

    Attributes
    ----------
    indices : ndarray of int64
        The support ``S`` (sorted).
    nbytes : int
        Bytes this object holds (masks or cached columns).
    """

    indices: np.ndarray
    nbytes: int

    def to_dense(self):
        """The n x |S| matrix itself."""
        raise NotImplementedError


class SparseSensingOperator(LinearOperator):
    """An n x N sensing operator applied in blocks of columns.

    Subclasses provide ``_blocks_rmatvec(r)`` (yield ``(offset, g_block)``
    covering ``A^T r`` in order), ``restrict(idx, reuse=None)`` and
    ``pass_nbytes`` (bytes of the work arrays of one streaming pass).
    """

    def matvec(self, x):
        """``A x`` for a dense vector or a :class:`~sparsecert.sparse.SparseVector`."""
        if isinstance(x, SparseVector):
            if x.size != self.shape[1]:
                raise ValueError(f"x has length {x.size}, operator has {self.shape[1]} columns")
            if x.nnz == 0:
                return np.zeros(self.shape[0], dtype=self.dtype)
            return self.restrict(x.indices).matvec(x.values.astype(self.dtype, copy=False))
        return super().matvec(x)

    def dot(self, x):
        if isinstance(x, SparseVector):
            return self.matvec(x)
        return super().dot(x)

    def _rmatvec(self, r):
        r = np.ascontiguousarray(np.ravel(r), dtype=self.dtype)
        return np.concatenate([g for _, g in self._blocks_rmatvec(r)])

    def columns(self, idx):
        """The n x |idx| submatrix ``A[:, idx]`` (idx sorted)."""
        return self.restrict(idx).to_dense()

    def gradient_split(self, r, support, k):
        """One streaming pass over ``g = A^T r``.

        Parameters
        ----------
        r : ndarray, shape (n,)
        support : ndarray of int64, sorted
        k : int

        Returns
        -------
        g_support : ndarray, shape (|support|,)
            ``g[support]``.
        cand_idx, cand_val : ndarray, shape (<= k,)
            The top-k entries of ``|g|`` outside ``support`` (ties: smaller
            index), indices increasing.

        Notes
        -----
        For any step ``mu > 0`` the top-s of ``x + mu g`` (``x`` supported on
        ``support``) lies in ``support`` union the top-s of ``|g|`` outside it,
        so this pass is all an IHT step needs; it holds O(k + |support|)
        numbers besides one block.
        """
        r = np.ascontiguousarray(r, dtype=self.dtype)
        support = np.ascontiguousarray(support, dtype=np.int64)
        g_support = np.empty(support.size, dtype=self.dtype)
        top = StreamingTopK(k, exclude=support, dtype=self.dtype)
        for offset, g in self._blocks_rmatvec(r, capture=True):
            lo, hi = np.searchsorted(support, [offset, offset + g.size])
            g_support[lo:hi] = g[support[lo:hi] - offset]
            top.push(g, offset)
            self._keep_captured(offset, g.size, support, top.indices)
        return g_support, top.indices, top.values

    def _keep_captured(self, offset, length, support, candidates):
        """Hook after each block of a ``gradient_split`` pass (operators that cache
        per-column data of the support and the candidates override it)."""


# ------------------------------------------------------------------------- dense
class _RestrictedDense(RestrictedOperator):
    def __init__(self, parent, idx):
        self.indices = idx
        self.cols = np.ascontiguousarray(parent.matrix[:, idx])
        self.nbytes = int(self.cols.nbytes)
        super().__init__(dtype=parent.dtype, shape=self.cols.shape)

    def _matvec(self, v):
        return self.cols @ np.ravel(v).astype(self.dtype, copy=False)

    def _rmatvec(self, r):
        return self.cols.T @ np.ravel(r).astype(self.dtype, copy=False)

    def to_dense(self):
        return self.cols.copy()


class DenseOperator(SparseSensingOperator):
    """An explicit n x N matrix behind the same interface (small problems, baselines).

    Parameters
    ----------
    matrix : array_like, shape (n, N)
    block : int, optional
        Columns per streaming block of ``gradient_split`` (default: all).
    """

    def __init__(self, matrix, *, block=None):
        self.matrix = check_array(matrix, "matrix", ndim=2)
        n, N = self.matrix.shape
        if n < 1 or N < 1:
            raise ValueError(f"matrix must be non-empty, got shape {self.matrix.shape}")
        self.block = N if block is None else min(check_int(block, "block", low=1), N)
        super().__init__(dtype=self.matrix.dtype, shape=(n, N))

    def _matvec(self, x):
        return self.matrix @ np.ravel(x).astype(self.dtype, copy=False)

    def _blocks_rmatvec(self, r, capture=False):
        for j0 in range(0, self.shape[1], self.block):
            yield j0, self.matrix[:, j0 : j0 + self.block].T @ r

    @property
    def pass_nbytes(self):
        return int(self.block * self.dtype.itemsize)

    def restrict(self, idx, reuse=None):
        """``A_S`` as a copy of the columns ``idx``."""
        return _RestrictedDense(self, _check_support(idx, self.shape[1]))


# ------------------------------------------------------------------- composition
class _RestrictedStack(RestrictedOperator):
    def __init__(self, parent, idx, reuse=None):
        self.indices = idx
        self.parts = []  # (position slice in idx, sign, restricted op)
        old = reuse.parts if isinstance(reuse, _RestrictedStack) else [None] * len(parent.ops)
        for (op, sign, off), prev in zip(parent._layout(), old):
            lo, hi = np.searchsorted(idx, [off, off + op.shape[1]])
            prev_op = prev[2] if prev is not None else None
            self.parts.append((slice(lo, hi), sign, op.restrict(idx[lo:hi] - off, reuse=prev_op)))
        self.nbytes = int(sum(R.nbytes for _, _, R in self.parts))
        super().__init__(dtype=parent.dtype, shape=(parent.shape[0], idx.size))

    def _matvec(self, v):
        v = np.ravel(v)
        out = np.zeros(self.shape[0], dtype=self.dtype)
        for sl, sign, R in self.parts:
            if R.shape[1]:
                out += sign * R.matvec(v[sl])
        return out

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
    parts). Streaming, restriction and ``follow_weights`` act part by part.

    Parameters
    ----------
    ops : sequence of SparseSensingOperator
        Same number of rows and dtype.
    signs : sequence of {+1, -1}, optional
    """

    def __init__(self, ops, signs=None):
        ops = list(ops)
        if not ops or not all(isinstance(op, SparseSensingOperator) for op in ops):
            raise TypeError("ops must be a non-empty sequence of SparseSensingOperator")
        n = ops[0].shape[0]
        if any(op.shape[0] != n or op.dtype != ops[0].dtype for op in ops):
            raise ValueError("ops must share the number of rows and the dtype")
        signs = [1.0] * len(ops) if signs is None else [float(sg) for sg in signs]
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

    def _blocks_rmatvec(self, r, capture=False):
        for op, sg, off in self._layout():
            for j0, g in op._blocks_rmatvec(r, capture):
                yield off + j0, g if sg > 0 else -g

    def _keep_captured(self, offset, length, support, candidates):
        for op, _, off in self._layout():
            if off <= offset < off + op.shape[1]:
                lo, hi = np.searchsorted(support, [off, off + op.shape[1]])
                clo, chi = np.searchsorted(candidates, [off, off + op.shape[1]])
                op._keep_captured(offset - off, length, support[lo:hi] - off, candidates[clo:chi] - off)

    @property
    def pass_nbytes(self):
        return sum(op.pass_nbytes for op in self.ops)

    def restrict(self, idx, reuse=None):
        return _RestrictedStack(self, _check_support(idx, self.shape[1]), reuse)

    def split(self, w):
        """The parts of a SparseVector ``w``, one per operator (local indices)."""
        out = []
        for op, _, off in self._layout():
            lo, hi = np.searchsorted(w.indices, [off, off + op.shape[1]])
            out.append(SparseVector(w.indices[lo:hi] - off, w.values[lo:hi], op.shape[1]))
        return out

    def follow_weights(self, w):
        """Pass each part its slice of ``w`` (see :meth:`ReluPatternOperator.follow_weights`)."""
        for op, part in zip(self.ops, self.split(w) if w is not None else [None] * len(self.ops)):
            op.follow_weights(part)

    def with_data(self, X):
        return HStackOperator([op.with_data(X) for op in self.ops], self.signs)


# ---------------------------------------------------------------------- Gaussian
class _RestrictedGaussian(RestrictedOperator):
    def __init__(self, parent, idx, cache_bytes):
        self.parent = parent
        self.indices = idx
        self.cache = None
        n = parent.shape[0]
        if n * idx.size * parent.dtype.itemsize <= cache_bytes:
            self.cache = self._generate(idx)
        self.nbytes = 0 if self.cache is None else int(self.cache.nbytes)
        super().__init__(dtype=parent.dtype, shape=(n, idx.size))

    def _generate(self, idx):
        p = self.parent
        cols = np.empty((idx.size, p.shape[0]), dtype=p.dtype)
        for t, j in enumerate(idx):
            cols[t] = p._column_block(int(j), int(j) + 1)[0]
        return cols  # row t is column idx[t] of A

    def _chunks(self):
        if self.cache is not None:
            yield 0, self.cache
            return
        step = self.parent.block
        for t0 in range(0, self.indices.size, step):
            yield t0, self._generate(self.indices[t0 : t0 + step])

    def _matvec(self, v):
        v = np.ravel(v).astype(self.dtype, copy=False)
        out = np.zeros(self.shape[0], dtype=self.dtype)
        for t0, C in self._chunks():
            out += C.T @ v[t0 : t0 + C.shape[0]]
        return out

    def _rmatvec(self, r):
        r = np.ravel(r).astype(self.dtype, copy=False)
        return np.concatenate([C @ r for _, C in self._chunks()]) if self.shape[1] else np.zeros(0, self.dtype)

    def to_dense(self):
        return np.concatenate([C for _, C in self._chunks()]).T.copy() if self.shape[1] else np.zeros((self.shape[0], 0), self.dtype)


class GaussianOperator(SparseSensingOperator):
    """n x N matrix with i.i.d. N(0, 1/n) entries, regenerated block by block.

    Column ``j`` is row ``j`` of :func:`counter_normals` with the operator's
    key, scaled by ``1/sqrt(n)``, so every column block is reproducible from
    ``(key, j)`` and the matrix is never stored. float32 operators hold the
    float64 entries rounded to float32.

    Parameters
    ----------
    n, N : int
        Number of measurements (rows) and of unknowns (columns).
    rng : None, int or numpy.random.Generator
        Source of the stream key (one draw).
    dtype : float64 or float32
    block : int, optional
        Columns generated at a time (default: about 64 MiB of columns).
    cache_bytes : int
        A restricted operator ``A_S`` keeps its columns when they fit in this
        many bytes, and regenerates them on every product otherwise.

    Notes
    -----
    Memory of one streaming pass: ``n * block`` entries; of ``A_S``:
    ``n * |S|`` entries while under ``cache_bytes``, else ``n * block``.
    """

    def __init__(self, n, N, rng=None, *, dtype=np.float64, block=None, cache_bytes=256 * 2**20):
        n = check_int(n, "n", low=1)
        N = check_int(N, "N", low=1)
        dtype = check_dtype(dtype)
        self.key = seed_from_rng(rng)
        self.block = _block_size(block, n, N)
        self.cache_bytes = check_int(cache_bytes, "cache_bytes", low=0)
        self._scale = 1.0 / np.sqrt(n)
        super().__init__(dtype=dtype, shape=(n, N))

    def _column_block(self, j0, j1):
        """Columns j0..j1-1 as rows of a (j1 - j0, n) array."""
        cols = counter_normals(self.key, j0, j1 - j0, self.shape[0])
        cols *= self._scale
        return cols.astype(self.dtype, copy=False)

    def _blocks_rmatvec(self, r, capture=False):
        N = self.shape[1]
        for j0 in range(0, N, self.block):
            yield j0, self._column_block(j0, min(N, j0 + self.block)) @ r

    def _matvec(self, x):
        x = np.ravel(x).astype(self.dtype, copy=False)
        out = np.zeros(self.shape[0], dtype=self.dtype)
        N = self.shape[1]
        for j0 in range(0, N, self.block):
            j1 = min(N, j0 + self.block)
            out += self._column_block(j0, j1).T @ x[j0:j1]
        return out

    @property
    def pass_nbytes(self):
        """Bytes of work arrays in one streaming pass (one column block)."""
        return int(self.block * self.shape[0] * (8 + self.dtype.itemsize) + self.block * 8)

    def restrict(self, idx, reuse=None):
        """``A_S`` for the sorted column indices ``idx`` (``reuse`` is ignored)."""
        return _RestrictedGaussian(self, _check_support(idx, self.shape[1]), self.cache_bytes)

    def to_dense(self):
        """The whole n x N matrix (for small problems and tests)."""
        return self.restrict(np.arange(self.shape[1])).to_dense()


# ------------------------------------------------------------------ ReLU pattern
#: Bytes of one (row chunk x generator block) tile of pre-activations: small
#: enough to stay in cache between the two GEMMs and the mask kernel.
TILE_BYTES = 4 * 2**20


class _RestrictedPattern(RestrictedOperator):
    """``A_S`` for the ReLU-pattern operator: one byte mask per sample per touched block, plus X."""

    def __init__(self, parent, idx, reuse=None):
        d = parent.d
        self.parent = parent
        self.indices = idx
        self.version = parent._version
        blk = idx // d
        self.feat = idx - blk * d
        self.blocks, start = np.unique(blk, return_index=True)
        self.ptr = np.append(start, idx.size).astype(np.int64)
        self.masks = np.empty((self.blocks.size, parent.shape[0]), dtype=np.uint8)
        todo = np.ones(self.blocks.size, dtype=bool)
        if isinstance(reuse, _RestrictedPattern) and reuse.parent is parent and reuse.version == parent._version:
            _, here, there = np.intersect1d(self.blocks, reuse.blocks, assume_unique=True, return_indices=True)
            if here.size == self.blocks.size:
                np.take(reuse.masks, there, axis=0, out=self.masks)
            else:
                self.masks[here] = reuse.masks[there]
            todo[here] = False
        if todo.any():
            where = dict(zip(self.blocks.tolist(), range(self.blocks.size)))
            for j, mask in parent.captured_masks(self.blocks[todo]).items():
                t = where[j]
                self.masks[t] = mask
                todo[t] = False
        new = np.flatnonzero(todo)
        parent.block_masks(self.blocks[new], out=self.masks, rows=new)
        self.n_new_blocks = int(new.size)
        self.nbytes = int(self.masks.nbytes + self.feat.nbytes + self.ptr.nbytes + idx.nbytes)
        super().__init__(dtype=parent.dtype, shape=(parent.shape[0], idx.size))

    def _matvec(self, v):
        v = np.ascontiguousarray(np.ravel(v), dtype=self.dtype)
        out = np.empty(self.shape[0], dtype=self.dtype)
        return kernels.pattern_matvec(self.parent.XT, self.masks, self.ptr, self.feat, v, out)

    def _rmatvec(self, r):
        r = np.ascontiguousarray(np.ravel(r), dtype=self.dtype)
        out = np.empty(self.shape[1], dtype=self.dtype)
        return kernels.pattern_rmatvec(self.parent.XT, self.masks, self.ptr, self.feat, r, out)

    def to_dense(self):
        blk = np.repeat(np.arange(self.blocks.size), np.diff(self.ptr))
        return (self.masks[blk] * self.parent.XT[self.feat]).T.astype(self.dtype)


class ReluPatternOperator(SparseSensingOperator):
    """``A = [D_1 X, ..., D_m X]`` with ``D_j = diag(1[X h_j >= 0])``, never stored.

    Column ``j * d + k`` of A is ``D_j X[:, k]``, so ``A w`` with the fused
    weights ``w = concat(w_1, ..., w_m)`` (``w_j = u_j v_j``) is the output
    of the two-layer ReLU net when ``h_j = u_j`` and ``v_j > 0``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Data, rows are samples (float32 kept, anything else float64).
    generators : array_like of shape (m, d), or int m
        The generators ``h_j``. An array is used as given (copied). An int
        ``m`` means seeded Gaussian generators ``h_j ~ N(0, I_d)`` drawn
        from a counter-based stream keyed by ``rng`` and regenerated per
        block, so no m x d array is held.
    rng : None, int or numpy.random.Generator
        Key of the seeded generators (ignored for an explicit array).
    block : int, optional
        Generators per streaming block (default ``min(m, 1024)``).
    row_block : int, optional
        Samples per row chunk of a pass (default: a multiple of 8 giving a
        ~4 MiB ``row_block x block`` tile).
    dtype : float64 or float32, optional
        Defaults to the dtype of ``X``.

    Notes
    -----
    ``rmatvec`` computes, per block ``B`` of generators and per chunk of rows,
    ``Z = X_rows @ H_B.T`` (GEMM), overwrites ``Z`` with ``M * r_rows``
    (``M = 1[Z >= 0]``, Numba) and accumulates ``X_rows.T @ Z`` (GEMM): the two
    GEMMs of the dense formula, with a cache-sized tile as the only work array.
    ``restrict(S)`` holds one byte per sample for each block touched by ``S``
    (``n * nb`` bytes, ``nb <= min(|S|, m)``) and reads ``X.T`` (one copy of
    ``X``, made on first use).

    :meth:`follow_weights` sets ``h_j = w_j`` on the blocks where the fused
    weights are nonzero (the sequential-convex variant), storing only ``w``.
    """

    def __init__(self, X, generators, *, rng=None, block=None, row_block=None, dtype=None):
        X = check_array(X, "X", ndim=2, dtype=None if dtype is None else check_dtype(dtype))
        n, d = X.shape
        if n < 1 or d < 1:
            raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
        self.X = X
        self.d = d
        if isinstance(generators, (int, np.integer)) and not isinstance(generators, bool):
            self.m = check_int(generators, "generators (m)", low=1)
            self._H = None
            self.key = seed_from_rng(rng)
        else:
            H = check_array(generators, "generators", ndim=2, shape=(None, d), dtype=X.dtype, copy=True)
            if H.shape[0] < 1:
                raise ValueError("generators must have at least one row (m >= 1)")
            self.m = H.shape[0]
            self._H = H
            self.key = None
        self._follow = None  # SparseVector: sequential-convex generators h_j = w_j
        self._fmasks = None  # (version, blocks, masks) of the followed generators
        self._captured = None  # (version, {block: (buffer, column)}) kept by gradient_split
        self._version = 0
        self._XT = None
        self.block = min(self.m, 1024) if block is None else min(check_int(block, "block", low=1), self.m)
        self._row_block = row_block
        self.row_block = self._rows_per_tile(n)
        super().__init__(dtype=X.dtype, shape=(n, self.m * d))

    def _rows_per_tile(self, n):
        rb = self._row_block
        if rb is None:
            rb = max(8, TILE_BYTES // (self.block * self.X.dtype.itemsize) // 8 * 8)
        return min(check_int(rb, "row_block", low=1), n)

    @property
    def XT(self):
        """``X.T`` as a C-contiguous (d, n) array (made on first use)."""
        if self._XT is None:
            self._XT = np.ascontiguousarray(self.X.T)
        return self._XT

    # ---------------------------------------------------------------- generators
    @property
    def seeded(self) -> bool:
        """Whether the generators come from the counter-based stream."""
        return self._H is None

    def generators(self, j0=0, j1=None):
        """Generators ``h_j0 .. h_{j1-1}`` as a (j1 - j0, d) array (a new array)."""
        j1 = self.m if j1 is None else j1
        if self._H is not None:
            H = self._H[j0:j1].copy()
        else:
            H = counter_normals(self.key, j0, j1 - j0, self.d, self.dtype)
        f = self._follow
        if f is not None:
            lo, hi = np.searchsorted(f.indices, [j0 * self.d, j1 * self.d])
            if hi > lo:
                idx = f.indices[lo:hi]
                rows = np.unique(idx // self.d) - j0
                H[rows] = 0.0
                H.reshape(-1)[idx - j0 * self.d] = f.values[lo:hi]
        return H

    def follow_weights(self, w):
        """Sequential-convex update: ``h_j = w_j`` for every block with a nonzero, the
        original generator for every other block.

        Parameters
        ----------
        w : SparseVector of length m*d, or None
            Fused weights (``None`` restores all original generators). Only
            ``w`` is stored (O(nnz)), never an m x d array.

        Restricted operators made before the change are not reused afterwards.
        """
        if w is not None:
            if not isinstance(w, SparseVector) or w.size != self.shape[1]:
                raise ValueError(f"w must be a SparseVector of length {self.shape[1]}")
            w = w.prune_zeros()
            w = SparseVector(w.indices, w.values.astype(self.dtype), w.size)
        self._follow = w
        self._version += 1

    def with_data(self, X):
        """The operator with the same generators (and followed weights) on other data ``X``."""
        X = check_array(X, "X", ndim=2, shape=(None, self.d), dtype=self.dtype)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.X, new._XT, new._fmasks, new._captured = X, None, None, None
        new.row_block = new._rows_per_tile(X.shape[0])
        LinearOperator.__init__(new, dtype=self.dtype, shape=(X.shape[0], self.shape[1]))
        return new

    def _tiles(self, HT):
        """Yield ``(rows slice, Z)`` with ``Z = X[rows] @ HT`` for cache-sized row chunks."""
        n, rb = self.shape[0], self.row_block
        buf = np.empty((rb, HT.shape[1]), dtype=self.dtype)
        for r0 in range(0, n, rb):
            rows = slice(r0, min(n, r0 + rb))
            Xc = self.X[rows]
            yield rows, np.matmul(Xc, HT, out=buf[: Xc.shape[0]])

    def block_masks(self, blocks, out=None, rows=None):
        """Activation masks ``1[X h_j >= 0]`` of the given blocks.

        Blocks whose generator follows sparse weights cost O(n * nnz) each
        (:func:`sparsecert.kernels.sparse_masks`); the others are computed
        by GEMM tiles.

        Parameters
        ----------
        blocks : array_like of int
        out : ndarray of uint8, shape (>= len(blocks), n), optional
            Written in place (row ``rows[t]`` gets block ``blocks[t]``).
        rows : array_like of int, optional
            Rows of ``out`` to fill; default ``arange(len(blocks))``.

        Returns
        -------
        ndarray of uint8, shape (len(blocks), n), or ``out``
        """
        blocks = np.asarray(blocks, dtype=np.int64)
        if out is None:
            out = np.empty((blocks.size, self.shape[0]), dtype=np.uint8)
        rows = np.arange(blocks.size) if rows is None else np.asarray(rows, dtype=np.int64)
        followed, t, fmasks = self._locate_followed(blocks)
        if followed.any():
            out[rows[followed]] = fmasks[t[followed]]
            blocks, rows = blocks[~followed], rows[~followed]
        for t0 in range(0, blocks.size, self.block):
            chunk = blocks[t0 : t0 + self.block]
            dest = rows[t0 : t0 + self.block]
            HT = np.ascontiguousarray(self._generator_rows(chunk).T)
            for samples, Z in self._tiles(HT):
                out[dest, samples] = Z.T >= 0  # tile-sized temporary only
        return out

    def _generator_rows(self, blocks):
        """Generators of the (sorted) ``blocks``: one ranged draw when they are dense enough."""
        lo, hi = int(blocks[0]), int(blocks[-1]) + 1
        if hi - lo <= 4 * blocks.size:
            return self.generators(lo, hi)[blocks - lo]
        return np.concatenate([self.generators(j, j + 1) for j in blocks])

    # ------------------------------------------------------------------ products
    def _blocks_rmatvec(self, r, capture=False):
        """Yield ``(offset, g_block)`` of ``A^T r``, one generator block at a time.

        With ``capture``, the activation masks of the current block are kept in
        ``self._chunk_masks`` until the next block (the pass computes them
        anyway), so :meth:`_keep_captured` can save those of the support and
        of the candidates: restricting to them later costs no GEMM.
        """
        d, n = self.d, self.shape[0]
        if capture:
            self._chunk_masks = np.empty((n, self.block), dtype=np.uint8)
            self._captured = (self._version, {})
        fblocks, fmasks = self._followed_masks()
        for j0 in range(0, self.m, self.block):
            j1 = min(self.m, j0 + self.block)
            H = self.generators(j0, j1)
            G = np.zeros((d, j1 - j0), dtype=self.dtype)
            lo, hi = np.searchsorted(fblocks, [j0, j1])
            if hi > lo:
                # Generators that follow sparse weights have their masks: GEMM for the rest only.
                fol = fblocks[lo:hi] - j0
                dense = np.setdiff1d(np.arange(j1 - j0), fol, assume_unique=True)
                M = self._chunk_masks if capture else np.empty((self.row_block, j1 - j0), np.uint8)
                buf = np.empty((self.row_block, j1 - j0), dtype=self.dtype)
                for rows, Zd in self._tiles(np.ascontiguousarray(H[dense].T)):
                    Z = buf[: Zd.shape[0]]
                    Mt = M[rows] if capture else M[: Zd.shape[0]]
                    kernels.mask_scale_followed(Zd, dense, fol, fmasks[lo:hi], rows.start, r[rows], Z, Mt)
                    G += self.X[rows].T @ Z
            else:
                for rows, Z in self._tiles(np.ascontiguousarray(H.T)):
                    if capture:  # Z <- 1[Z >= 0] * r, and the mask itself into the capture buffer
                        kernels.mask_scale_capture(Z, r[rows], self._chunk_masks, rows.start)
                    else:
                        kernels.mask_scale_inplace(Z, r[rows])
                    G += self.X[rows].T @ Z
            yield j0 * d, G.T.ravel()  # (B * d,), block-major
        if capture:
            self._chunk_masks = None

    def _followed_masks(self):
        """``(blocks, masks)``: the sorted blocks whose generator follows nonzero weights and
        their masks, shape (len(blocks), n), made once per weight update in O(n nnz)
        (:func:`sparsecert.kernels.sparse_masks`) and shared by passes and restrictions."""
        cache = self._fmasks
        if cache is None or cache[0] != self._version:
            f, d = self._follow, self.d
            if f is None or not f.nnz:
                blocks, masks = np.empty(0, np.int64), np.empty((0, self.shape[0]), np.uint8)
            else:
                blk = f.indices // d
                blocks, start = np.unique(blk, return_index=True)
                ptr = np.append(start, f.nnz).astype(np.int64)
                masks = np.empty((blocks.size, self.shape[0]), np.uint8)
                kernels.sparse_masks(self.XT, ptr, f.indices - blk * d, f.values, masks, np.arange(blocks.size))
            cache = self._fmasks = (self._version, blocks, masks)
        return cache[1], cache[2]

    def _locate_followed(self, blocks):
        """``(followed, t, masks)``: which of ``blocks`` (int64 array) follow weights, and the
        row ``t`` of ``masks`` (:meth:`_followed_masks`) holding each one's mask."""
        fblocks, fmasks = self._followed_masks()
        if not fblocks.size:
            return np.zeros(blocks.size, bool), np.zeros(blocks.size, np.int64), fmasks
        t = np.minimum(np.searchsorted(fblocks, blocks), fblocks.size - 1)
        return fblocks[t] == blocks, t, fmasks

    def _keep_captured(self, offset, length, support, candidates):
        version, cache = self._captured
        d = self.d
        j0, j1 = offset // d, (offset + length) // d
        keep = np.union1d(support // d, candidates // d)
        here = keep[(keep >= j0) & (keep < j1)]
        if here.size:
            buf = self._chunk_masks
            if 8 * here.size < j1 - j0:  # few kept: copy their columns, free the buffer
                buf = np.ascontiguousarray(buf[:, here - j0])
                cols = np.arange(here.size)
            else:  # many kept: keep the whole (n, B) buffer, no copies
                self._chunk_masks = np.empty_like(buf)
                cols = here - j0
            for j, c in zip(here.tolist(), cols.tolist()):
                cache[j] = (buf, c)
        for j in [j for j in cache if j < j0 and not _contains(keep, j)]:
            del cache[j]  # its candidates were pushed out

    def captured_masks(self, blocks):
        """Masks of ``blocks`` known without a GEMM for the current generators, as
        ``{block: mask}`` (only the blocks it has): those of generators that follow
        the weights, then those kept by the last ``gradient_split`` pass."""
        blocks = np.asarray(blocks, dtype=np.int64)
        followed, t, fmasks = self._locate_followed(blocks)
        captured = self._captured
        cache = captured[1] if captured is not None and captured[0] == self._version else {}
        out = {j: fmasks[k] for j, k in zip(blocks[followed].tolist(), t[followed].tolist())}
        for j in blocks[~followed].tolist():
            if j in cache:
                out[j] = cache[j][0][:, cache[j][1]]
        return out

    @property
    def captured_nbytes(self):
        captured = self._captured
        if captured is None:
            return 0
        return sum(buf.nbytes for buf in {id(b): b for b, _ in captured[1].values()}.values())

    def _matvec(self, w):
        w = np.ravel(w).astype(self.dtype, copy=False)
        d = self.d
        out = np.zeros(self.shape[0], dtype=self.dtype)
        for j0 in range(0, self.m, self.block):
            j1 = min(self.m, j0 + self.block)
            W = w[j0 * d : j1 * d].reshape(j1 - j0, d)
            if not W.any():
                continue
            for rows, Z in self._tiles(np.ascontiguousarray(self.generators(j0, j1).T)):
                out[rows] += np.einsum("ij,ij->i", Z >= 0, self.X[rows] @ W.T)
        return out

    @property
    def pass_nbytes(self):
        """Bytes of work arrays in one streaming pass: the tile (two when generators
        follow weights), H_B, two gradient blocks, the block's mask buffer, the masks
        kept for support and candidates and those of the followed generators."""
        d, B, it = self.d, self.block, self.dtype.itemsize
        fmasks = self._followed_masks()[1].nbytes
        tiles = 2 if fmasks else 1
        return int(it * (tiles * self.row_block * B + 4 * B * d) + B * self.shape[0] + self.captured_nbytes + fmasks)

    def restrict(self, idx, reuse=None):
        """``A_S`` for sorted column indices ``idx``.

        ``reuse``: an earlier restricted operator of this operator whose
        masks are copied for the blocks both touch (skips their GEMM).
        """
        return _RestrictedPattern(self, _check_support(idx, self.shape[1]), reuse)
