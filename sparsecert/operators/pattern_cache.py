"""What a ReLU-pattern operator learns about its activation masks between products."""

from __future__ import annotations
from typing import Any

__all__ = ["PatternCache"]


class PatternCache:
    """Activation masks of one :class:`~sparsecert.operators.ReluPatternOperator`, kept by its caller.

    The IHT solver owns one (``A.make_cache()``) and passes it to
    ``A.gradient_split`` and ``A.restrict``. It holds, for the operator's
    current generators only (an operator with other generators, from ``following`` or
    ``proposing``, empties it on next use, but for the followed masks when only proposals
    differ):

    * ``followed``: ``(blocks, masks, output)`` of the generators that follow
      sparse weights (``h_j = w_j``; ``output = A w``), made once per weight
      update in O(n nnz);
    * ``masks``: ``{block: (array, row)}`` (the mask is ``array[row]``) kept by
      the last streaming pass for the
      support and the candidates, and by restrictions for the blocks they
      had to compute, so a later ``restrict`` costs no GEMM;
    * ``buffer``: the block-major (B, n) mask buffer a pass fills.

    Products give the same result with or without a cache, and with a stale one.
    """

    def __init__(self) -> None:
        self.generators: Any = None  # (data and draw, followed weights, proposals) it describes
        self.followed: Any = None
        self.masks: dict = {}
        self.buffer: Any = None

    def bind(self, op: Any) -> PatternCache:
        """Make the cache belong to ``op``'s generators: what it holds stays where ``op`` is a view
        over the same data and draw with the same followed weights and proposals (the followed
        masks also where only the proposals differ); the rest is emptied."""
        new, old = (op.source, op.followed_weights, op.proposed_generators), self.generators
        same_follow = old is not None and new[0] is old[0] and new[1] is old[1]
        if not same_follow:
            self.followed = None
        if not (same_follow and new[2] is old[2]):
            self.masks = {}
        self.generators = new
        return self

    @property
    def kept_nbytes(self) -> int:
        """Bytes of the arrays behind ``masks`` other than the pass buffer (shared arrays counted once)."""
        return int(sum({id(arr): arr.nbytes for arr, _ in self.masks.values() if arr is not self.buffer}.values()))

    @property
    def nbytes(self) -> int:
        """Bytes held: kept masks, followed masks and output, the pass buffer."""
        followed = 0 if self.followed is None else self.followed[1].nbytes + self.followed[2].nbytes
        buffer = 0 if self.buffer is None else self.buffer.nbytes
        return self.kept_nbytes + int(followed + buffer)
