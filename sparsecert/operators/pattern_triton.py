"""Per-entry restricted products of the ReLU-pattern operator on a CUDA device (Triton kernels).

The GPU twin of :func:`sparsecert.kernels.pattern_matvec` / ``pattern_rmatvec``:
for a support ``S`` whose entry ``j`` is feature ``f_j`` of a unit whose mask is
row ``r_j`` of a byte-mask array ``M``,

    (A_S v)_i   = sum_j M[r_j, i] X[i, f_j] v_j,
    (A_S^T q)_j = sum_i M[r_j, i] X[i, f_j] q_i,

in O(n |S|) work, where the GEMM path over the active blocks does O(n d nb)
and writes an nb x n product to memory before reducing it. Each program
handles a tile of samples; ``A_S^T q`` sums per-tile partial sums (no atomics:
the same bits on every run). Used by
:class:`~sparsecert.operators.TorchReluPatternOperator` for float64 on CUDA
when Triton is installed and its self-check passes
(:func:`available`; ``SPARSECERT_TRITON=0`` turns them off); otherwise the GEMM
path runs. Triton is imported only then.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = ["available", "unavailable_reason", "entries_matvec", "entries_rmatvec", "TILE"]

#: Most samples per program; fewer when n is small, so that there are about n / 256 programs
#: (on an H200: at n = 50,000 tiles of 512 left most of its 132 multiprocessors idle).
TILE = 512


def _tile(n):
    return max(64, min(TILE, 1 << max(0, (n // 256).bit_length() - 1)))

_state: dict = {"ok": None, "error": None, "kernels": None}


def _kernels():
    if _state["kernels"] is None:
        import triton
        import triton.language as tl

        @triton.jit
        def matvec(M, m_stride, rows, feat, v, XT, out, n, S, BLOCK: tl.constexpr):
            offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
            valid = offs < n
            acc = tl.zeros([BLOCK], dtype=tl.float64)
            for j in range(0, S):
                r = tl.load(rows + j)
                f = tl.load(feat + j)
                vj = tl.load(v + j)
                m = tl.load(M + r * m_stride + offs, mask=valid, other=0)
                x = tl.load(XT + f * n + offs, mask=valid, other=0.0)
                acc += tl.where(m != 0, x * vj, 0.0)
            tl.store(out + offs, acc, mask=valid)

        @triton.jit
        def rmatvec(M, m_stride, rows, feat, q, XT, partial, n, S, BLOCK: tl.constexpr):
            pid = tl.program_id(0).to(tl.int64)
            offs = pid * BLOCK + tl.arange(0, BLOCK)
            valid = offs < n
            qv = tl.load(q + offs, mask=valid, other=0.0)
            for j in range(0, S):
                r = tl.load(rows + j)
                f = tl.load(feat + j)
                m = tl.load(M + r * m_stride + offs, mask=valid, other=0)
                x = tl.load(XT + f * n + offs, mask=valid, other=0.0)
                tl.store(partial + pid * S + j, tl.sum(tl.where(m != 0, x * qv, 0.0), axis=0))

        _state["kernels"] = (triton, matvec, rmatvec)
    return _state["kernels"]


def entries_matvec(M, rows, feat, v, XT):
    """``A_S v`` (n,) from byte masks ``M`` (R, n), per-entry mask rows and features (int64, (S,)),
    values ``v`` (S,) and the data transposed, ``XT`` (d, n) contiguous (each entry reads one
    row of it: coalesced), all float64/int64 tensors on one CUDA device."""
    import torch

    triton, matvec, _ = _kernels()
    n = XT.shape[1]
    out, tile = XT.new_empty(n), _tile(n)
    matvec[(triton.cdiv(n, tile),)](M.view(torch.uint8), M.stride(0), rows, feat, v, XT, out, n, rows.numel(),
                                    BLOCK=tile)
    return out


def entries_rmatvec(M, rows, feat, q, XT):
    """``A_S^T q`` (S,) (arguments as :func:`entries_matvec`, ``q`` of shape (n,))."""
    import torch

    triton, _, rmatvec = _kernels()
    n, S = XT.shape[1], rows.numel()
    tile = _tile(n)
    tiles = triton.cdiv(n, tile)
    partial = XT.new_empty((tiles, S))
    rmatvec[(tiles,)](M.view(torch.uint8), M.stride(0), rows, feat, q, XT, partial, n, S, BLOCK=tile)
    return partial.sum(0)


def _self_check(device):
    """The kernels against the definition on a small random instance (raises on a mismatch)."""
    import torch

    g = np.random.default_rng(0)
    n, d, R, S = 1000, 7, 5, 12
    M = torch.as_tensor(g.random((R, n)) < 0.5, device=device)
    X = torch.as_tensor(g.standard_normal((n, d)), device=device)
    rows = torch.as_tensor(g.integers(0, R, S), device=device)
    feat = torch.as_tensor(g.integers(0, d, S), device=device)
    v, q = torch.as_tensor(g.standard_normal(S), device=device), torch.as_tensor(g.standard_normal(n), device=device)
    cols = M[rows].T.to(X.dtype) * X[:, feat]  # (n, S): the columns of A_S
    XT = X.T.contiguous()
    for got, want in ((entries_matvec(M, rows, feat, v, XT), cols @ v), (entries_rmatvec(M, rows, feat, q, XT), cols.T @ q)):
        err = float((got - want).abs().max() / want.abs().max())
        if not err <= 1e-12:
            raise RuntimeError(f"Triton pattern kernels disagree with the definition (relative error {err:.1e})")


def available(device) -> bool:
    """Whether the Triton kernels run correctly on ``device`` (checked once per process;
    ``SPARSECERT_TRITON=0`` in the environment turns them off)."""
    if not str(device).startswith("cuda"):
        return False
    if os.environ.get("SPARSECERT_TRITON", "1") == "0":
        _state["error"] = "disabled by SPARSECERT_TRITON=0"
        return False
    if _state["ok"] is None:
        try:
            _self_check(device)
            _state["ok"] = True
        except Exception as exc:  # noqa: BLE001 - no Triton, no compiler, or a wrong result: the GEMM path runs
            _state["ok"], _state["error"] = False, f"{type(exc).__name__}: {exc}"
            warnings.warn(f"sparsecert: Triton pattern kernels unavailable ({_state['error']}); "
                          "restricted products use GEMMs over the active blocks", RuntimeWarning, stacklevel=2)
    return bool(_state["ok"])


def unavailable_reason():
    """Why :func:`available` said no (None if it said yes or was not asked)."""
    return _state["error"]
