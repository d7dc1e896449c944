"""ReLU networks held as NumPy arrays: :class:`TwoLayerReLU` (the recovery paper's scalar-output
net, the fused weights of its convex reformulation) and :class:`MLP` (deeper and vector-output
nets), each with its torch converters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..validation import check_array, check_int
from ..sparse import SparseVector
from ..torch_nn import layers_from_torch, layers_to_torch

if TYPE_CHECKING:
    from ..typing import ArrayLike

__all__ = ["TwoLayerReLU", "MLP", "FORWARD_ELEMENTS"]

#: Most hidden activations :meth:`TwoLayerReLU.forward` holds at once (1 MiB in float64: at 8 MiB the
#: forward pass that scores a fit was the largest allocation of a minibatch fit on full Fashion-MNIST).
FORWARD_ELEMENTS = 1 << 17


class TwoLayerReLU:
    """Scalar-output two-layer ReLU network ``f(x) = sum_j relu(x . u_j) v_j``.

    Parameters
    ----------
    U : array_like, shape (m, d)
        Hidden weights, row ``j`` is ``u_j``.
    v : array_like, shape (m,)
        Output weights.
    """

    def __init__(self, U: ArrayLike, v: ArrayLike) -> None:
        self.U = check_array(U, "U", ndim=2)
        self.v = check_array(v, "v", shape=(self.U.shape[0],), dtype=self.U.dtype)

    @property
    def m(self) -> int:
        return self.U.shape[0]

    @property
    def d(self) -> int:
        return self.U.shape[1]

    def forward(self, X: ArrayLike) -> np.ndarray:
        """Network output, shape (n,), for ``X`` of shape (n, d): over the units with weights only
        (the others add exact zeros), in blocks of rows whose hidden activations hold at most
        :data:`FORWARD_ELEMENTS` numbers (a wide net on many samples never holds the n x m
        activations at once; each row's output is computed as in one product)."""
        X = check_array(X, "X", ndim=2, shape=(None, self.d), fortran=True)
        live = np.flatnonzero((self.v != 0) & self.U.any(axis=1))
        U, v = (self.U, self.v) if live.size == self.m else (self.U[live], self.v[live])
        rows = max(1, FORWARD_ELEMENTS // max(1, live.size))
        out = np.empty(X.shape[0], dtype=np.result_type(X.dtype, self.U.dtype))
        for r0 in range(0, X.shape[0], rows):
            Z = X[r0 : r0 + rows] @ U.T
            out[r0 : r0 + rows] = np.maximum(Z, 0.0, out=Z) @ v
        return out

    __call__ = forward

    def to_torch(self, masks: str | list | None = None, dtype: Any = None) -> Any:
        """The net as ``nn.Sequential(Linear(d, m), ReLU, Linear(m, 1))`` without biases (output (n, 1));
        ``masks="nonzero"`` marks the zero weights as pruned for ``torch.nn.utils.prune``
        (see :func:`sparsecert.torch_nn.layers_to_torch`)."""
        return layers_to_torch([self.U, self.v[None, :]], masks=masks, dtype=dtype)

    def save(self, path: str | Path) -> Path:
        """Write the net to ``path`` (``.npz`` of ``U`` and ``v`` with a JSON description; no pickle)."""
        from ..files import save_arrays

        return save_arrays(path, "TwoLayerReLU", {"U": self.U, "v": self.v})

    @classmethod
    def load(cls, path: str | Path) -> TwoLayerReLU:
        """The net :meth:`save` wrote (ValueError naming the file for anything else)."""
        from ..files import load_arrays

        arrays, _ = load_arrays(path, "TwoLayerReLU")
        return cls(arrays["U"], arrays["v"])

    @classmethod
    def from_torch(cls, model: Any) -> TwoLayerReLU:
        """The net of a ``to_torch``-shaped model (two bias-free Linear layers, one output)."""
        Ws, bs = layers_from_torch(model)
        if len(Ws) != 2 or bs is not None or Ws[1].shape[0] != 1:
            raise ValueError("a TwoLayerReLU is two Linear layers without biases and one output")
        return cls(Ws[0], Ws[1][0])

    def fused_weights(self) -> SparseVector:
        """Fused weights ``w = concat(u_j v_j)`` as a :class:`SparseVector` of length m*d."""
        return SparseVector.from_dense((self.U * self.v[:, None]).ravel())

    @property
    def nnz(self) -> int:
        """Nonzeros of the fused weights (the ``s`` of the paper)."""
        return int(np.count_nonzero(self.U * self.v[:, None]))

    @classmethod
    def from_fused(cls, w: SparseVector | ArrayLike, m: int, d: int, signs: ArrayLike | None = None) -> TwoLayerReLU:
        """Network whose fused weights are ``w`` (SparseVector or dense, length m*d).

        Each nonzero block becomes one neuron with ``u_j = w_j / ||w_j||`` and
        ``v_j = sign_j ||w_j||`` (``signs`` of shape (m,), default all +1), so
        ``relu(X u_j) v_j = sign_j relu(X w_j)``: the net equals ``A w`` for
        generators ``h_j = w_j``. Zero blocks give zero neurons.
        """
        m = check_int(m, "m", low=1)
        d = check_int(d, "d", low=1)
        if isinstance(w, SparseVector):
            if w.size != m * d:
                raise ValueError(f"w has length {w.size}, expected m*d = {m * d}")
            W = np.zeros((m, d), dtype=w.dtype)
            W.flat[w.indices] = w.values
        else:
            W = check_array(w, "w", shape=(m * d,)).reshape(m, d).copy()
        norms = np.linalg.norm(W, axis=1)
        U = np.divide(W, norms[:, None], out=np.zeros_like(W), where=norms[:, None] > 0)
        sgn = np.ones(m) if signs is None else check_array(signs, "signs", shape=(m,))
        return cls(U, (sgn * norms).astype(W.dtype))


class MLP:
    """ReLU network ``x -> relu(... relu(x W_1^T) ... W_L^T) V``.

    Parameters
    ----------
    Ws : list of ndarray
        Hidden layers, ``Ws[l]`` of shape (m_l, m_{l-1}) with ``m_0 = d``.
    V : ndarray, shape (m_L,) or (m_L, k)
        Output layer (no activation).
    """

    def __init__(self, Ws, V):
        self.Ws = [check_array(W, f"Ws[{i}]", ndim=2) for i, W in enumerate(Ws)]
        for i in range(1, len(self.Ws)):
            if self.Ws[i].shape[1] != self.Ws[i - 1].shape[0]:
                raise ValueError(f"Ws[{i}] must have {self.Ws[i - 1].shape[0]} columns, got {self.Ws[i].shape}")
        self.V = check_array(V, "V", ndim=(1, 2))
        if self.V.shape[0] != self.Ws[-1].shape[0]:
            raise ValueError(f"V must have {self.Ws[-1].shape[0]} rows, got {self.V.shape}")

    def features(self, X, depth=None):
        """ReLU features after ``depth`` hidden layers (default all), shape (n, m_depth)."""
        H = check_array(X, "X", ndim=2, shape=(None, self.Ws[0].shape[1]), fortran=True)  # a feature-major X as it is
        for W in self.Ws[: len(self.Ws) if depth is None else depth]:
            H = np.maximum(H @ W.T, 0.0)
        return H

    def forward(self, X):
        """Outputs, shape (n,) or (n, k)."""
        return self.features(X) @ self.V

    __call__ = forward

    @property
    def nnz(self) -> int:
        return int(sum(np.count_nonzero(W) for W in self.Ws) + np.count_nonzero(self.V))

    def save(self, path):
        """Write the net to ``path`` (``.npz`` of ``W0, W1, ...`` and ``V`` with a JSON description)."""
        from ..files import save_arrays

        return save_arrays(path, "MLP", {**{f"W{i}": W for i, W in enumerate(self.Ws)}, "V": self.V},
                           {"layers": len(self.Ws)})

    @classmethod
    def load(cls, path):
        """The net :meth:`save` wrote (ValueError naming the file for anything else)."""
        from ..files import load_arrays

        arrays, meta = load_arrays(path, "MLP")
        return cls([arrays[f"W{i}"] for i in range(int(meta["layers"]))], arrays["V"])

    def to_torch(self, masks=None, dtype=None):
        """The net as ``nn.Sequential`` of bias-free Linear layers with ReLUs (the output layer is
        ``V^T``: outputs (n, k), or (n, 1) for a vector ``V``); ``masks`` as in
        :func:`sparsecert.torch_nn.layers_to_torch`."""
        V = self.V[None, :] if self.V.ndim == 1 else self.V.T
        return layers_to_torch([*self.Ws, V], masks=masks, dtype=dtype)

    @classmethod
    def from_torch(cls, model):
        """The net of a bias-free Linear/ReLU stack (a single output gives a vector ``V``)."""
        Ws, bs = layers_from_torch(model)
        if bs is not None or len(Ws) < 2:
            raise ValueError("an MLP is at least two Linear layers without biases")
        V = Ws[-1][0] if Ws[-1].shape[0] == 1 else Ws[-1].T
        return cls(Ws[:-1], V)
