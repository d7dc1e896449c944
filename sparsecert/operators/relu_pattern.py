"""The convex reformulation of a two-layer ReLU net: ``A = [D_1 X, ..., D_m X]``, never stored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .. import kernels
from ..validation import check_array, check_dtype, check_int, seed_from_rng, warn_deprecated
from ..parallel import get_n_threads, map_rows
from ..random import counter_normals
from ..sparse import SparseVector
from .base import RestrictedOperator, SparseSensingOperator, check_support
from .pattern_cache import PatternCache
from .restricted_pattern import RestrictedPattern

if TYPE_CHECKING:
    from ..typing import ArrayLike, DTypeLike, RngLike

__all__ = ["ReluPatternOperator", "TILE_BYTES", "GATHER_BYTES", "gather_transposed", "halfspace_ratio"]

#: Bytes of one (generator block x row chunk) tile of pre-activations: small
#: enough to stay in cache between the two GEMMs and the mask kernel.
TILE_BYTES = 4 * 2**20
#: Bytes of one row tile gathered from the data when the operator reads a subset of its samples in
#: place (:meth:`ReluPatternOperator.with_rows`): ``d x rows`` floats, per thread.
GATHER_BYTES = 2**20


def gather_transposed(X: np.ndarray, rows: ArrayLike, chunk: int = 256) -> np.ndarray:
    """``X[rows].T`` as a C-contiguous (d, len(rows)) array, gathered ``chunk`` rows at a time, so
    that the only full-size array made is the result (``X[rows].T.copy()`` holds the rows twice)."""
    rows = np.asarray(rows, dtype=np.int64)
    XT = np.empty((X.shape[1], rows.size), dtype=X.dtype)
    for c0 in range(0, rows.size, chunk):
        XT[:, c0 : c0 + chunk] = X[rows[c0 : c0 + chunk]].T
    return XT


def halfspace_ratio(acc: np.ndarray) -> np.ndarray:
    """Scores of :meth:`ReluPatternOperator.halfspace_scores` from the sums ``acc`` (6, d):
    ``<x_k^+, r>``, ``<x_k^-, r>``, ``||x_k^+||^2``, ``||x_k^-||^2`` (``x^- = min(x, 0)``) and
    the counts of negative and of positive ``x_k``. 0 where a half of a feature is empty.

    A half-space holding every sample makes a linear unit, the same pattern for every such
    feature (all of them on nonnegative data): only the best of those scores is kept."""
    corr = np.stack([acc[0], -acc[1]])
    nrm = np.sqrt(acc[2:4])
    out = np.divide(corr, nrm, out=np.zeros_like(corr), where=nrm > 0)
    linear = acc[4:6] == 0  # sigma x_k >= 0 on every sample: the all-ones pattern
    if linear.sum() > 1:
        keep = np.unravel_index(np.argmax(np.where(linear, out, -np.inf)), out.shape)
        best = out[keep]
        out[linear] = 0.0
        out[keep] = best
    return out[None]


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
        Samples per row tile of a pass (default: a multiple of 8 giving a
        ~4 MiB ``block x row_block`` tile).
    dtype : float64 or float32, optional
        Defaults to the dtype of ``X``.

    Notes
    -----
    ``rmatvec`` computes, per block ``B`` of generators and per tile of rows,
    ``Z = H_B @ X_rows.T`` (GEMM), overwrites ``Z`` with ``M * r_rows``
    (``M = 1[Z >= 0]``, Numba) and accumulates ``Z @ X_rows`` (GEMM): the two
    GEMMs of the dense formula, with a cache-sized tile as the only work array.
    Row ranges run on :mod:`sparsecert.parallel`'s threads, each with
    single-threaded BLAS. ``restrict(S)`` holds one byte per sample for each
    block touched by ``S`` (``n * nb`` bytes, ``nb <= min(|S|, m)``) and reads
    ``X.T`` (one copy of ``X``, made on first use).

    :meth:`following` is the operator whose generators are ``h_j = w_j`` on the blocks where the
    fused weights are nonzero (the sequential-convex variant): a new view over the same data and
    draw that stores only ``w`` (the operator itself never changes its generators).
    Masks worth keeping between products live in a :class:`PatternCache`
    (:meth:`make_cache`) that the caller owns and passes in.
    """

    def __init__(
        self,
        X: ArrayLike,
        generators: ArrayLike | int,
        *,
        rng: RngLike = None,
        block: int | None = None,
        row_block: int | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        X = check_array(X, "X", ndim=2, dtype=None if dtype is None else check_dtype(dtype), fortran=True)
        n, d = X.shape
        if n < 1 or d < 1:
            raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
        self.X: np.ndarray | None = X  # None for an operator on some rows of another's data (with_rows)
        self.d = d
        if isinstance(generators, (int, np.integer)) and not isinstance(generators, bool):
            self.m = check_int(generators, "generators (m)", low=1)
            self._H = None
            self.key: int | None = seed_from_rng(rng)
        else:
            H = check_array(generators, "generators", ndim=2, shape=(None, d), dtype=X.dtype, copy=True)
            if H.shape[0] < 1:
                raise ValueError("generators must have at least one row (m >= 1)")
            self.m = H.shape[0]
            self._H = H
            self.key = None
        self._follow: SparseVector | None = None  # sequential-convex generators h_j = w_j
        self._proposed: SparseVector | None = None  # generators set for blocks without weights
        self.source = object()  # shared by the views over the same data and draw (following, proposing)
        self._XT: np.ndarray | None = None
        self.cols: np.ndarray | None = None  # with_rows: the samples' columns of XT (None: all, in order)
        self.block = min(self.m, 1024) if block is None else min(check_int(block, "block", low=1), self.m)
        self._row_block = None if row_block is None else check_int(row_block, "row_block", low=1)
        self.row_block = self._rows_per_tile(n)
        super().__init__(dtype=X.dtype, shape=(n, self.m * d))

    def _rows_per_tile(self, n):
        rb = self._row_block
        if rb is None:
            it = (self.dtype if self.X is None else self.X.dtype).itemsize
            rb = max(8, TILE_BYTES // (self.block * it) // 8 * 8)
            if self.cols is not None:  # each tile's samples are gathered: a buffer of d x rb
                rb = min(rb, max(8, GATHER_BYTES // (self.d * it) // 8 * 8))
        return min(rb, n)

    @property
    def XT(self) -> np.ndarray:
        """``X.T`` as a C-contiguous (d, n) array (made on first use: a copy of a C-contiguous ``X``,
        a view of an F-contiguous one). For an operator on some of the samples (:meth:`with_rows`)
        the whole data's, shape (d, N); its samples are the columns :attr:`cols`."""
        if self._XT is None:
            assert self.X is not None  # an operator without X (with_rows) is made with its XT
            self._XT = np.ascontiguousarray(self.X.T)
        return self._XT

    def make_cache(self) -> PatternCache:
        """An empty :class:`PatternCache` for this operator."""
        return PatternCache().bind(self)

    def cache_nbytes(self, cache: PatternCache | None) -> int:
        """The kept masks and the followed output: :attr:`pass_nbytes` already counts the pass
        buffer and the followed masks, which a pass without a cache allocates itself."""
        if cache is None:
            return 0
        return cache.kept_nbytes + (0 if cache.followed is None else int(cache.followed[2].nbytes))

    # ---------------------------------------------------------------- generators
    @property
    def seeded(self) -> bool:
        """Whether the generators come from the counter-based stream."""
        return self._H is None

    def generators(self, j0: int = 0, j1: int | None = None) -> np.ndarray:
        """Generators ``h_j0 .. h_{j1-1}`` as a (j1 - j0, d) array (a new array)."""
        j1 = self.m if j1 is None else j1
        if self._H is not None:
            H = self._H[j0:j1].copy()
        else:
            assert self.key is not None  # seeded generators have a key
            H = counter_normals(self.key, j0, j1 - j0, self.d, self.dtype)
        for f in (self._proposed, self._follow):  # followed weights take precedence
            if f is not None:
                lo, hi = np.searchsorted(f.indices, [j0 * self.d, j1 * self.d])
                if hi > lo:
                    idx = f.indices[lo:hi]
                    rows = np.unique(idx // self.d) - j0
                    H[rows] = 0.0
                    H.reshape(-1)[idx - j0 * self.d] = f.values[lo:hi]
        return H

    @property
    def followed_weights(self) -> SparseVector | None:
        """The fused weights the generators follow (:meth:`following`), or None."""
        return self._follow

    @property
    def proposed_generators(self) -> SparseVector | None:
        """The generators proposed for blocks without weights (:meth:`proposing`), or None."""
        return self._proposed

    def proposing(self, h: SparseVector | None) -> ReluPatternOperator:
        """The operator whose blocks without followed weights take the generators ``h`` instead of
        their draw (a view over the same data: O(nnz)).

        Parameters
        ----------
        h : SparseVector of length m*d, or None
            ``h_j`` for the blocks where it has nonzeros (``None``: every block
            back to its draw). A block whose generator follows weights
            (:meth:`following`) keeps them; the proposal applies while it
            has none. Stored as given, O(nnz).
        """
        new = self._view()
        new._proposed = self._sparse_rows(h, "h")
        return new

    def propose_generators(self, h: SparseVector | None) -> None:
        """Deprecated (goes in 0.6): ``A = A.proposing(h)``; this changes ``A`` in place."""
        warn_deprecated("ReluPatternOperator.propose_generators(h)", "A = A.proposing(h) (a new view)")
        self.__dict__.update(self.proposing(h).__dict__)

    def _view(self, new_data: bool = False) -> ReluPatternOperator:
        """A shallow copy: the same draw, and the same data unless ``new_data`` (then a source of its
        own, so that no :class:`PatternCache` serves it the masks of other samples)."""
        new = self._copy()
        if new_data:
            new.source = object()
        return new

    def _sparse_rows(self, w, name):
        """``w`` (SparseVector of length m*d, or None) without zeros, in this operator's dtype."""
        if w is None:
            return None
        if not isinstance(w, SparseVector) or w.size != self.shape[1]:
            raise ValueError(f"{name} must be a SparseVector of length {self.shape[1]}")
        w = w.prune_zeros()
        return SparseVector(w.indices, w.values.astype(self.dtype), w.size)

    def halfspace_scores(self, r: Any) -> np.ndarray:
        """How well one weight on one feature, under that weight's own pattern, fits ``r``.

        For the generator ``sigma e_k`` (``sigma = +1`` or ``-1``) the column of
        feature ``k`` is ``a = 1[sigma x_k >= 0] x_k``; a weight on it keeps that
        pattern when the generator follows it only if it has the sign ``sigma``.
        The score ``sigma <a, r> / ||a||`` is positive when such a one-weight unit
        lowers the residual, and its square is the drop in ``||r||^2`` at the
        best weight.

        Parameters
        ----------
        r : array, shape (n,)
            Residual (NumPy, or the operator's native array).

        Returns
        -------
        ndarray, shape (1, 2, d)
            ``[0, 0, k]`` for ``+e_k``, ``[0, 1, k]`` for ``-e_k`` (one part;
            a stack of operators gives one row per part). One pass over
            ``X.T`` (:func:`sparsecert.kernels.halfspace_sums`), features
            split among the threads.
        """
        r, XT, n = np.asarray(r, dtype=self.dtype), self.XT, self.shape[0]
        acc = np.empty((6, self.d))  # see halfspace_ratio
        if self.cols is None:
            map_rows(lambda k0, k1: kernels.halfspace_sums(XT, r, acc, k0, k1), self.d, min_rows=max(1, 2**16 // n))
        else:  # features a few at a time, their samples gathered (GATHER_BYTES)
            step = max(1, GATHER_BYTES // (n * self.dtype.itemsize))
            for k0 in range(0, self.d, step):
                Xk = kernels.gather_columns(XT[k0 : k0 + step], self.cols, np.empty((min(step, self.d - k0), n), self.dtype))
                part = np.empty((6, Xk.shape[0]))
                kernels.halfspace_sums(Xk, r, part, 0, Xk.shape[0])
                acc[:, k0 : k0 + step] = part
        return halfspace_ratio(acc)

    def following(self, w: SparseVector | None) -> ReluPatternOperator:
        """The sequential-convex operator: ``h_j = w_j`` for every block with a nonzero, the
        original generator for every other block; a view over the same data and draw.

        Parameters
        ----------
        w : SparseVector of length m*d, or None
            Fused weights (``None`` restores all original generators). Only
            ``w`` is stored (O(nnz)), never an m x d array.

        ``self`` keeps its generators, and so do the restricted operators made from it; a
        :class:`PatternCache` passed to the new operator keeps what still holds (the followed masks
        when only proposals differ) and drops the rest.
        """
        new = self._view()
        new._follow = self._sparse_rows(w, "w")
        return new

    def follow_weights(self, w: SparseVector | None) -> None:
        """Deprecated (goes in 0.6): ``A = A.following(w)``; this changes ``A`` in place."""
        warn_deprecated("ReluPatternOperator.follow_weights(w)", "A = A.following(w) (a new view)")
        self.__dict__.update(self.following(w).__dict__)

    def with_data(self, X: ArrayLike, *, transposed: bool = False) -> ReluPatternOperator:
        """The operator with the same generators (and followed weights) on other data ``X``.

        ``transposed``: ``X`` is given as ``X.T``, shape (d, n'), and is used as it is (C-contiguous,
        the layout every product reads): the operator holds no other copy of the samples
        (:func:`gather_transposed` makes one from rows of a larger ``X``: a minibatch).
        """
        XT: np.ndarray | None = None
        if transposed:
            XT = check_array(X, "X.T", ndim=2, shape=(self.d, None), dtype=self.dtype)
            data = XT.T  # (a view, F-ordered: BLAS reads it transposed)
        else:
            data = check_array(X, "X", ndim=2, shape=(None, self.d), dtype=self.dtype)
        new = self._view(new_data=True)
        new.X, new._XT, new.cols = data, XT, None
        new.row_block = new._rows_per_tile(data.shape[0])
        LinearOperator.__init__(new, dtype=self.dtype, shape=(data.shape[0], self.shape[1]))
        return new

    def with_rows(self, rows: ArrayLike) -> ReluPatternOperator:
        """The operator with the same generators (and followed weights) on the samples ``rows`` of
        its own data, read in place: no copy of them is made (a minibatch of a feature-major X).

        Every product gathers a tile of the samples at a time (:data:`GATHER_BYTES` a thread) from
        :attr:`XT`, the whole data's, which must be a view (an F-contiguous X; a C-contiguous one
        would be copied whole: gather the rows with :func:`gather_transposed` and :meth:`with_data`
        instead). The per-entry products and the followed masks give the same numbers as the
        operator on ``X[rows]``, bit for bit; the passes' GEMMs run on tiles of other sizes.
        """
        if self._XT is None and not (self.X is not None and self.X.flags.f_contiguous):
            raise ValueError("with_rows reads the samples in place from X.T, which needs a feature-major "
                             "(F-contiguous) X; gather the rows with gather_transposed and use with_data")
        n = self.shape[0]
        rows = check_array(rows, "rows", ndim=1, dtype=np.int64)
        if rows.size < 1 or rows.min() < 0 or rows.max() >= n:
            raise ValueError(f"rows must be 1 or more sample indices in [0, {n}), got {rows.size} "
                             f"in [{rows.min(initial=0)}, {rows.max(initial=0)}]")
        XT = self.XT
        new = self._view(new_data=True)
        new.X, new._XT = None, XT
        new.cols = rows if self.cols is None else self.cols[rows]
        # a pass gathers every tile once per block: blocks of at least GATHER_BYTES of generators
        wide = 2 ** int(np.floor(np.log2(max(1, GATHER_BYTES // (self.d * self.dtype.itemsize)))))
        new.block = min(self.m, max(self.block, wide))
        new.row_block = new._rows_per_tile(rows.size)
        LinearOperator.__init__(new, dtype=self.dtype, shape=(rows.size, self.shape[1]))
        return new

    def data_tile(self, i0: int, i1: int, buf: np.ndarray | None = None) -> np.ndarray:
        """The samples ``i0:i1`` as a (d, i1 - i0) array: a view of :attr:`XT`, or for an operator on
        some rows (:meth:`with_rows`) those samples gathered into ``buf`` (made if None)."""
        if self.cols is None:
            return self.XT[:, i0:i1]
        L = i1 - i0
        out = np.empty((self.d, L), self.dtype) if buf is None else buf[:, :L]
        return kernels.gather_columns(self.XT, self.cols[i0:i1], out)

    # --------------------------------------------------------------------- masks
    def _tiles(self, H, r0, r1):
        """Yield ``(i0, Z, XTt)`` with ``XTt = X[i0:i0 + L].T`` (:meth:`data_tile`) and ``Z = H @ XTt``
        (block-major) for row tiles of ``r0:r1``."""
        rb = self.row_block
        L = min(rb, r1 - r0)
        buf = np.empty((H.shape[0], L), dtype=self.dtype)
        gathered = None if self.cols is None else np.empty((self.d, L), dtype=self.dtype)
        for i0 in range(r0, r1, rb):
            i1 = min(r1, i0 + rb)
            XTt = self.data_tile(i0, i1, gathered)
            yield i0, np.matmul(H, XTt, out=buf[:, : i1 - i0]), XTt

    def _followed_masks(self, cache=None):
        """``(blocks, masks, output)``: the sorted blocks whose generator follows nonzero weights,
        their masks, shape (len(blocks), n), and ``output = A w`` for the followed weights ``w``
        (``sum_j relu(X w_j)``), all in O(n nnz) (:func:`sparsecert.kernels.sparse_masks`);
        kept in ``cache`` once per weight update."""
        if cache is not None and cache.bind(self).followed is not None:
            return cache.followed
        f, d, n = self._follow, self.d, self.shape[0]
        if f is None or not f.nnz:
            out = np.empty(0, np.int64), np.empty((0, n), np.uint8), np.zeros(n, self.dtype)
        else:
            blk = f.indices // d
            blocks, start = np.unique(blk, return_index=True)
            ptr = np.append(start, f.nnz).astype(np.int64)
            masks = np.empty((blocks.size, n), np.uint8)
            output = np.empty(n, self.dtype)
            feat, rows, XT = f.indices - blk * d, np.arange(blocks.size), self.XT
            map_rows(lambda r0, r1: kernels.sparse_masks(XT, ptr, feat, f.values, masks, rows, r0, r1, output, self.cols),
                     n)
            out = blocks, masks, output
        if cache is not None:
            cache.followed = out
        return out

    def followed_output(self, cache: PatternCache | None = None) -> np.ndarray:
        """``A w`` for the weights the generators follow (:meth:`following`), shape (n,).

        Every block with weights has its own weights as generator, so this is the
        network output ``sum_j relu(X w_j)``, a by-product of the followed masks:
        no restricted product is needed (the sequential solver's residual).
        """
        return self._followed_masks(cache)[2]

    def known_masks(self, blocks: ArrayLike, cache: PatternCache | None = None) -> list:
        """``(t, array, row)`` for each ``blocks[t]`` whose mask ``array[row]`` is known without a
        GEMM for the current generators: followed generators (from ``w``), then masks kept in
        ``cache``."""
        blocks = np.asarray(blocks, dtype=np.int64)
        fblocks, fmasks, _ = self._followed_masks(cache)
        t = np.minimum(np.searchsorted(fblocks, blocks), max(fblocks.size - 1, 0))
        followed = fblocks[t] == blocks if fblocks.size else np.zeros(blocks.size, bool)
        out = [(i, fmasks, k) for i, k in zip(np.flatnonzero(followed).tolist(), t[followed].tolist())]
        if cache is not None:
            kept = cache.bind(self).masks
            out += [(i, *kept[j]) for i, j in enumerate(blocks.tolist()) if not followed[i] and j in kept]
        return out

    def block_masks(
        self,
        blocks: ArrayLike,
        out: np.ndarray | None = None,
        rows: ArrayLike | None = None,
    ) -> np.ndarray:
        """Activation masks ``1[X h_j >= 0]`` of the given blocks (computed, no cache).

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
        for t0 in range(0, blocks.size, self.block):
            H = self._generator_rows(blocks[t0 : t0 + self.block])
            dest = rows[t0 : t0 + self.block]

            def fill(r0, r1):
                for i0, Z, _ in self._tiles(H, r0, r1):
                    out[dest, i0 : i0 + Z.shape[1]] = Z >= 0

            map_rows(fill, self.shape[0])
        return out

    def _generator_rows(self, blocks):
        """Generators of the (sorted) ``blocks``: one ranged draw when they are dense enough."""
        lo, hi = int(blocks[0]), int(blocks[-1]) + 1
        if hi - lo <= 4 * blocks.size:
            return self.generators(lo, hi)[blocks - lo]
        return np.concatenate([self.generators(j, j + 1) for j in blocks])

    # ------------------------------------------------------------------ products
    def _blocks_rmatvec(self, r, cache=None):
        """Yield ``(offset, g_block)`` of ``A^T r``, one generator block at a time.

        Each block's masks are written to a block-major (B, n) buffer on the
        way; with a ``cache`` the buffer is ``cache.buffer``, so :meth:`_keep`
        can keep the masks of the support and the candidates.
        """
        d, n = self.d, self.shape[0]
        fblocks, fmasks, _ = self._followed_masks(cache)
        if cache is not None:
            cache.masks = {}  # this pass recomputes every mask
        M = None
        for j0 in range(0, self.m, self.block):
            j1 = min(self.m, j0 + self.block)
            if cache is not None:
                if cache.buffer is None or cache.buffer.shape != (j1 - j0, n):
                    cache.buffer = np.empty((j1 - j0, n), np.uint8)
                M = cache.buffer
            elif M is None or M.shape[0] != j1 - j0:
                M = np.empty((j1 - j0, n), np.uint8)
            H = self.generators(j0, j1)
            lo, hi = np.searchsorted(fblocks, [j0, j1])
            fol = fblocks[lo:hi] - j0
            dense = np.setdiff1d(np.arange(j1 - j0), fol, assume_unique=True)
            Hd = np.ascontiguousarray(H[dense]) if fol.size else H
            Mf = fmasks[lo:hi]

            def rows(r0, r1, Hd=Hd, fol=fol, dense=dense, Mf=Mf, M=M, B=j1 - j0):
                G = np.zeros((B, d), dtype=self.dtype)
                Z = np.empty((B, min(self.row_block, r1 - r0)), dtype=self.dtype) if fol.size else None
                for i0, Zd, XTt in self._tiles(Hd, r0, r1):
                    L = Zd.shape[1]
                    if fol.size:
                        Zt = Z[:, :L]
                        kernels.mask_scale_followed(Zd, dense, fol, Mf, i0, r[i0 : i0 + L], Zt, M)
                    else:
                        Zt = kernels.mask_scale_capture(Zd, r[i0 : i0 + L], M, i0)
                    G += Zt @ (XTt.T if self.X is None else self.X[i0 : i0 + L])
                return G

            parts = map_rows(rows, n)
            G = parts[0] if len(parts) == 1 else np.sum(parts, axis=0)
            yield j0 * d, G.ravel()  # (B * d,), block-major

    def _keep(self, cache, offset, length, support, candidates):
        """After a generator block of the pass: keep its masks of support and candidate blocks."""
        d = self.d
        j0, j1 = offset // d, (offset + length) // d
        keep = np.union1d(support // d, candidates // d)
        here = keep[(keep >= j0) & (keep < j1)]
        kept = cache.masks
        if here.size:
            buf = cache.buffer
            if 8 * here.size < j1 - j0:  # few kept: copy their rows, reuse the buffer
                buf, rows = buf[here - j0], np.arange(here.size)
            else:  # many kept: keep the whole buffer, the next block gets a new one
                cache.buffer, rows = None, here - j0
            for j, t in zip(here.tolist(), rows.tolist()):
                kept[j] = (buf, t)
        before = set(keep[keep < j0].tolist())
        for j in [j for j in kept if j < j0 and j not in before]:
            del kept[j]  # its candidates were pushed out
        # buffers whose masks were mostly pushed out are compacted (memory O(n * kept))
        groups = {}
        for j, (arr, _) in kept.items():
            groups.setdefault(id(arr), []).append(j)
        for js in groups.values():
            arr = kept[js[0]][0]
            if arr is not cache.buffer and 2 * len(js) <= arr.shape[0]:
                compact = arr[np.array([kept[j][1] for j in js])]
                kept.update((j, (compact, t)) for t, j in enumerate(js))

    def _matvec(self, w):
        w = np.ravel(w).astype(self.dtype, copy=False)
        d = self.d
        out = np.zeros(self.shape[0], dtype=self.dtype)
        for j0 in range(0, self.m, self.block):
            j1 = min(self.m, j0 + self.block)
            W = w[j0 * d : j1 * d].reshape(j1 - j0, d)
            if not W.any():
                continue
            H = self.generators(j0, j1)

            def rows(r0, r1, W=W, H=H):
                for i0, Z, XTt in self._tiles(H, r0, r1):
                    out[i0 : i0 + Z.shape[1]] += np.einsum("bi,bi->i", Z >= 0, W @ XTt)

            map_rows(rows, self.shape[0])
        return out

    @property
    def pass_nbytes(self) -> int:
        """Bytes of work arrays in one streaming pass: per thread a tile (two when generators
        follow weights) and a gradient block; H_B, the block's mask buffer and the masks of
        the followed generators."""
        d, B, it, n = self.d, self.block, self.dtype.itemsize, self.shape[0]
        fmasks = 0 if self._follow is None else n * np.unique(self._follow.indices // d).size
        tiles = 2 if fmasks else 1
        per_thread = tiles * min(self.row_block, n) * B + B * d + (0 if self.cols is None else d * min(self.row_block, n))
        return int(it * (get_n_threads() * per_thread + 2 * B * d) + B * n + fmasks)

    def cache_nbytes_bound(self, s: int) -> int:
        """Masks of the followed generators (<= min(s, m) blocks) and of the support and candidates
        (<= min(2 s, m) blocks), one mask buffer of a block, and the second tile per thread that a
        pass with followed generators uses."""
        n, it = self.shape[0], self.dtype.itemsize
        tile = min(self.row_block, n) * self.block * it
        return int(n * (min(s, self.m) + min(2 * s, self.m) + self.block) + get_n_threads() * tile)

    def restricted_nbytes(self, k: int) -> int:
        """One byte per sample per touched block (at most ``min(k, m)``) and 24 bytes per column."""
        return int(self.shape[0] * min(k, self.m) + 24 * k)

    def restrict(self, idx: ArrayLike, cache: PatternCache | None = None) -> RestrictedOperator:
        """``A_S`` for sorted column indices ``idx``.

        ``cache``: a :class:`PatternCache` (:meth:`make_cache`) whose masks are
        used for the blocks it knows and which keeps the masks computed here.
        """
        return RestrictedPattern(self, check_support(idx, self.shape[1]), cache)
