"""The one network class: :class:`ReLUNet`, a stack of (sparse) weight matrices with ReLUs between them.

Every fitter and pruner of the package returns one: the recovery paper's two-layer scalar-output
net ``f(x) = sum_j relu(x . u_j) v_j`` is ``ReLUNet.two_layer(U, v)`` (``Ws = [U, v[None, :]]``, read
back as ``net.U``, ``net.v``), the layer-by-layer fits give deeper bias-free nets, and pruning trains
nets with biases. Weights are held dense; zeros are the pruned or never-grown weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..sparse import SparseVector
from ..torch_nn import layers_from_torch, layers_to_torch
from ..validation import check_array, check_int, check_rng

if TYPE_CHECKING:
    from ..typing import ArrayLike

__all__ = ["ReLUNet", "FORWARD_ELEMENTS"]

#: Most hidden activations :meth:`ReLUNet.forward` holds at once (1 MiB in float64: at 8 MiB the
#: forward pass that scores a fit was the largest allocation of a minibatch fit on full Fashion-MNIST).
FORWARD_ELEMENTS = 1 << 17


class ReLUNet:
    """ReLU network ``h_0 = x``, ``h_l = relu(h_{l-1} W_l^T + b_l)``, output ``h_{L-1} W_L^T + b_L``.

    Parameters
    ----------
    Ws : list of array_like
        ``Ws[l]`` of shape (m_{l+1}, m_l) with ``m_0 = d``; the last is the output layer (k rows).
        One matrix alone is a linear model.
    bs : list of array_like, optional
        One bias per layer (shape (m_{l+1},)), or None for a net without biases (the recovery
        theory's nets).
    copy : bool, default True
        Hold copies (training changes the weights in place); ``False`` keeps arrays that are already
        floating and C-contiguous as they are.

    Notes
    -----
    Outputs have shape (n,) for one output and (n, k) otherwise. ``nnz`` counts the nonzero weights
    of every layer; the recovery paper's ``s`` (nonzeros of the fused weights ``w_j = u_j v_j``) is
    ``net.fused_weights().nnz``.
    """

    def __init__(self, Ws: list, bs: list | None = None, *, copy: bool = True) -> None:
        if len(Ws) == 0:
            raise ValueError("Ws must hold at least one layer")
        self._Ws = [check_array(W, f"Ws[{i}]", ndim=2, copy=copy) for i, W in enumerate(Ws)]
        for i in range(1, len(self._Ws)):
            if self._Ws[i].shape[1] != self._Ws[i - 1].shape[0]:
                raise ValueError(f"Ws[{i}] must have {self._Ws[i - 1].shape[0]} columns, got {self._Ws[i].shape}")
        if bs is not None and len(bs) != len(self._Ws):
            raise ValueError(f"bs must hold one bias per layer ({len(self._Ws)}), got {len(bs)}")
        self.bs = None if bs is None else [
            check_array(b, f"bs[{i}]", shape=(W.shape[0],), dtype=W.dtype, copy=copy)
            for i, (b, W) in enumerate(zip(bs, self._Ws))
        ]

    # ------------------------------------------------------------------ constructors
    @classmethod
    def two_layer(cls, U: ArrayLike, v: ArrayLike, *, copy: bool = False) -> ReLUNet:
        """The recovery paper's net ``f(x) = sum_j relu(x . u_j) v_j``: ``U`` (m, d), ``v`` (m,)."""
        U = check_array(U, "U", ndim=2, copy=copy)
        v = check_array(v, "v", shape=(U.shape[0],), dtype=U.dtype)
        return ReLUNet([U, v[None, :]], copy=False)

    @classmethod
    def init(cls, sizes: list, rng: Any = None, bias: bool = True) -> ReLUNet:
        """PyTorch's ``nn.Linear`` initialisation (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``) for
        ``sizes = [d, m_1, ..., k]``."""
        rng = check_rng(rng)
        sizes = [check_int(s, "sizes[i]", low=1) for s in sizes]
        if len(sizes) < 2:
            raise ValueError("sizes must list the input and output widths at least")
        Ws, bs = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)
            Ws.append(rng.uniform(-bound, bound, (b, a)))
            bs.append(rng.uniform(-bound, bound, b))
        return ReLUNet(Ws, bs if bias else None, copy=False)

    @classmethod
    def linear(cls, w: ArrayLike, b: float | None = None) -> ReLUNet:
        """The linear model ``x -> x . w (+ b)`` as a one-layer net."""
        w = check_array(w, "w", ndim=1)
        return ReLUNet([w[None, :]], None if b is None else [np.array([float(b)])])

    @classmethod
    def from_fused(cls, w: SparseVector | ArrayLike, m: int, d: int, signs: ArrayLike | None = None) -> ReLUNet:
        """Two-layer net whose fused weights are ``w`` (SparseVector or dense, length m*d).

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
        return ReLUNet.two_layer(U, (sgn * norms).astype(W.dtype))

    @classmethod
    def from_torch(cls, model: Any) -> ReLUNet:
        """The net of an ``nn.Sequential`` of Linear layers with ReLUs between them (pruned layers
        give their masked weights)."""
        return ReLUNet(*layers_from_torch(model), copy=False)

    @classmethod
    def load(cls, path: str | Path) -> ReLUNet:
        """The net :meth:`save` wrote (also the files of 0.4's ``TwoLayerReLU`` and ``MLP``);
        ValueError naming the file for anything else."""
        from ..files import load_arrays

        arrays, meta = load_arrays(path, "ReLUNet", older=("TwoLayerReLU", "MLP"))
        try:
            if meta["kind"] == "TwoLayerReLU":
                return ReLUNet.two_layer(arrays["U"], arrays["v"])
            L = int(meta["layers"])
            Ws = [arrays[f"W{i}"] for i in range(L)]
            if meta["kind"] == "MLP":
                V = arrays["V"]
                return ReLUNet([*Ws, V[None, :] if V.ndim == 1 else V.T])
            return ReLUNet(Ws, [arrays[f"b{i}"] for i in range(L)] if meta["bias"] else None)
        except (KeyError, TypeError, ValueError) as exc:  # a file that says it holds a net and does not
            raise ValueError(f"{path}: not a readable {meta['kind']} ({type(exc).__name__}: {exc})") from None

    # ------------------------------------------------------------------ shape
    @property
    def Ws(self) -> list[np.ndarray]:
        """The weight matrices, input layer first (a list: ``net.Ws[l]`` can be changed in place)."""
        return self._Ws

    @property
    def d(self) -> int:
        """Input width."""
        return self._Ws[0].shape[1]

    @property
    def k(self) -> int:
        """Number of outputs."""
        return self._Ws[-1].shape[0]

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths ``(m_1, ..., m_{L-1})`` (empty for a linear model)."""
        return tuple(W.shape[0] for W in self._Ws[:-1])

    @property
    def m(self) -> int:
        """Width of the first hidden layer (the papers' m)."""
        if len(self._Ws) < 2:
            raise AttributeError("a linear model has no hidden layer")
        return self._Ws[0].shape[0]

    @property
    def U(self) -> np.ndarray:
        """Hidden weights (m, d) of a two-layer scalar-output net without biases (row j is ``u_j``)."""
        self._check_two_layer("U")
        return self._Ws[0]

    @property
    def v(self) -> np.ndarray:
        """Output weights (m,) of a two-layer scalar-output net without biases (a view)."""
        self._check_two_layer("v")
        return self._Ws[1][0]

    def _check_two_layer(self, name: str) -> None:
        if len(self._Ws) != 2 or self.k != 1 or self.bs is not None:
            raise AttributeError(f"{name} is the paper's notation for a two-layer net with one output and no biases; "
                                 f"this net has {len(self._Ws)} layers, {self.k} outputs"
                                 + (" and biases" if self.bs is not None else "") + ": use Ws")

    @property
    def nnz(self) -> int:
        """Nonzero weights over all layers (biases not counted)."""
        return int(sum(np.count_nonzero(W) for W in self._Ws))

    @property
    def n_weights(self) -> int:
        """Weights over all layers, zero or not."""
        return int(sum(W.size for W in self._Ws))

    @property
    def nbytes(self) -> int:
        return int(sum(W.nbytes for W in self._Ws) + (sum(b.nbytes for b in self.bs) if self.bs else 0))

    def fused_weights(self) -> SparseVector:
        """Fused weights ``w = concat(u_j v_j)`` (length m*d) of a two-layer scalar-output net: its
        ``nnz`` is the recovery paper's ``s``."""
        return SparseVector.from_dense((self.U * self.v[:, None]).ravel())

    def copy(self) -> ReLUNet:
        return ReLUNet(self._Ws, self.bs)

    # ------------------------------------------------------------------ evaluation
    def forward(self, X: ArrayLike, keep: bool = False) -> Any:
        """Outputs, shape (n,) for one output or (n, k), for ``X`` of shape (n, d).

        In a net with one hidden layer, units that add exact zeros (no incoming weight nor bias, or no
        outgoing weight) are skipped; rows go in blocks whose hidden activations hold at most :data:`FORWARD_ELEMENTS` numbers
        (a wide net on many samples never holds the n x m activations at once). With ``keep``, the
        whole batch at once and also the pre-activations of every layer (see :meth:`pre_activations`).
        """
        X = check_array(X, "X", ndim=2, shape=(None, self.d), fortran=True)  # a feature-major X as it is
        if keep:
            Zs = self.pre_activations(X)
            return (Zs[-1][:, 0] if self.k == 1 else Zs[-1]), Zs
        Ws, bs = self._live_layers()
        k = self.k
        rows = max(1, FORWARD_ELEMENTS // max([1, *(W.shape[0] for W in Ws[:-1])]))
        out = np.empty((X.shape[0],) if k == 1 else (X.shape[0], k), dtype=np.result_type(X.dtype, self._Ws[0].dtype))
        for r0 in range(0, X.shape[0], rows):
            H = X[r0 : r0 + rows]
            for l, W in enumerate(Ws[:-1]):
                Z = H @ W.T
                if bs is not None:
                    Z += bs[l]
                H = np.maximum(Z, 0.0, out=Z)
            out[r0 : r0 + rows] = H @ Ws[-1][0] if k == 1 else H @ Ws[-1].T
            if bs is not None:
                out[r0 : r0 + rows] += bs[-1][0] if k == 1 else bs[-1]
        return out

    __call__ = forward

    def _live_layers(self) -> tuple[list, list | None]:
        """The layers without the hidden units that add exact zeros to every output (slices, or
        the arrays themselves where every unit counts), in a net with one hidden layer. (Deeper nets
        keep every unit: dropping one reorders the next layer's sums, and planted deep nets' targets
        stay the bits they were in 0.4.)"""
        Ws, bs = list(self._Ws), None if self.bs is None else list(self.bs)
        if len(Ws) == 2:
            live = (Ws[0].any(axis=1) | (bs is not None and bs[0] != 0)) & Ws[1].any(axis=0)
            if not live.all():
                keep = np.flatnonzero(live)
                Ws = [Ws[0][keep], Ws[1][:, keep]]
                bs = None if bs is None else [bs[0][keep], bs[1]]
        return Ws, bs

    def pre_activations(self, H: np.ndarray) -> list[np.ndarray]:
        """Every layer's pre-activation ``h_{l-1} W_l^T + b_l`` (the last is the output, (n, k)) for
        ``H`` of shape (n, d), a float array taken as it is (not validated: the training loops' path)."""
        Zs = []
        for l, W in enumerate(self._Ws):
            Z = H @ W.T
            if self.bs is not None:
                Z += self.bs[l]
            Zs.append(Z)
            if l < len(self._Ws) - 1:
                H = np.maximum(Z, 0.0)
        return Zs

    def features(self, X: ArrayLike, depth: int | None = None) -> np.ndarray:
        """ReLU features after ``depth`` hidden layers (default all), shape (n, m_depth)."""
        H = check_array(X, "X", ndim=2, shape=(None, self.d), fortran=True)  # a feature-major X as it is
        for l, W in enumerate(self._Ws[: len(self._Ws) - 1 if depth is None else depth]):
            Z = H @ W.T
            if self.bs is not None:
                Z += self.bs[l]
            H = np.maximum(Z, 0.0, out=Z)
        return H

    # ------------------------------------------------------------------ conversion
    def to_torch(self, masks: str | list | None = None, dtype: Any = None) -> Any:
        """The net as ``nn.Sequential(Linear, ReLU, ..., Linear)`` (biases if it has them; outputs
        (n, k), also for k = 1); ``masks``: the pruning engine's masks or ``"nonzero"``, applied with
        ``torch.nn.utils.prune.custom_from_mask`` (:func:`sparsecert.torch_nn.layers_to_torch`)."""
        return layers_to_torch(self._Ws, self.bs, masks=masks, dtype=dtype)

    def save(self, path: str | Path) -> Path:
        """Write the net to ``path`` (``.npz`` of ``W0, W1, ...`` (and ``b0, ...``) with a JSON
        description; no pickle)."""
        from ..files import save_arrays

        arrays = {f"W{i}": W for i, W in enumerate(self._Ws)}
        arrays.update({f"b{i}": b for i, b in enumerate(self.bs or [])})
        return save_arrays(path, "ReLUNet", arrays, {"layers": len(self._Ws), "bias": self.bs is not None})

    def __repr__(self) -> str:
        sizes = " -> ".join(str(n) for n in (self.d, *self.widths, self.k))
        return f"ReLUNet({sizes}, nnz={self.nnz}{', biases' if self.bs is not None else ''})"
