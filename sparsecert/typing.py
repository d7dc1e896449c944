"""Type aliases of the public API (layer 0; for annotations only).

``ArrayLike``: anything :func:`numpy.asarray` takes (validated at the boundary);
``RngLike``: a seed, a :class:`numpy.random.Generator` or None (fresh entropy);
``DTypeLike``: float64 or float32 in any spelling NumPy accepts.
"""

from __future__ import annotations

from typing import Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["ArrayLike", "DTypeLike", "RngLike"]

RngLike = Union[None, int, np.integer, np.random.Generator]
