"""The network classes of 0.4, kept for one release as deprecated subclasses of :class:`ReLUNet`
(``sparsecert.nn`` and ``sparsecert`` give them with a ``FutureWarning`` naming the new call). Each
keeps its constructor and the attributes whose meaning changed: ``TwoLayerReLU.nnz`` counts the fused
weights, ``MLP.Ws`` lists the hidden layers only and ``MLP.V`` is the output layer as a column."""

from __future__ import annotations

from typing import Any

import numpy as np

from .net import ReLUNet

__all__ = ["TwoLayerReLU", "MLP", "DenseNet", "REPLACED_BY"]


#: Each deprecated name and the call that replaces it.
REPLACED_BY = {"TwoLayerReLU": "ReLUNet.two_layer(U, v)", "MLP": "ReLUNet([*Ws, V.T]) (a 1-d V as V[None, :])",
               "DenseNet": "ReLUNet(Ws, bs)"}


class TwoLayerReLU(ReLUNet):
    """Deprecated: ``ReLUNet.two_layer(U, v)``. ``nnz`` here counts the fused weights ``u_j v_j``
    (``ReLUNet.fused_weights().nnz``)."""

    def __init__(self, U: Any, v: Any) -> None:
        super().__init__(ReLUNet.two_layer(U, v).Ws, copy=False)

    @property
    def nnz(self) -> int:
        return self.fused_weights().nnz

    @classmethod
    def from_fused(cls, w: Any, m: int, d: int, signs: Any = None) -> TwoLayerReLU:
        net = ReLUNet.from_fused(w, m, d, signs)
        return cls(net.U, net.v)

    @classmethod
    def from_torch(cls, model: Any) -> TwoLayerReLU:
        net = ReLUNet.from_torch(model)
        if len(net.Ws) != 2 or net.bs is not None or net.k != 1:
            raise ValueError("a TwoLayerReLU is two Linear layers without biases and one output")
        return cls(net.U, net.v)

    @classmethod
    def load(cls, path: Any) -> TwoLayerReLU:
        net = ReLUNet.load(path)
        return cls(net.U, net.v)


class MLP(ReLUNet):
    """Deprecated: ``ReLUNet([*Ws, V^T])`` (``V`` of shape (m_L,) is the row ``V[None, :]``). Here
    ``Ws`` lists the hidden layers only and ``V`` is the output layer as in 0.4."""

    def __init__(self, Ws: list, V: Any) -> None:
        V = np.asarray(V)
        super().__init__([*Ws, V[None, :] if V.ndim == 1 else V.T], copy=False)

    @property
    def Ws(self) -> list[np.ndarray]:
        return self._Ws[:-1]

    @property
    def V(self) -> np.ndarray:
        return self._Ws[-1][0] if self.k == 1 else self._Ws[-1].T


class DenseNet(ReLUNet):
    """Deprecated: :class:`ReLUNet` (the same arguments and attributes)."""

    def __init__(self, Ws: list, bs: list | None = None) -> None:
        super().__init__(Ws, bs)

    @classmethod
    def from_two_layer(cls, net: ReLUNet) -> ReLUNet:
        """A two-layer net is a ReLUNet already: this returns a copy."""
        return net.copy()
