"""The options of a sparse-network fit as frozen configuration objects, each checked once, when it is
made, so a wrong value is named where it is written:

* :class:`IHT`: the step (``method``, ``inner_iter``, ...), when the run stops (``max_iter``, ``tol``,
  ``xtol``), the streaming block and the loss (its home is :mod:`sparsecert.recovery.config`, as
  :func:`sparsecert.iht` takes it too);
* :class:`Sequential`: the sequential-convex rule (generators follow the weights; the paper's
  method), or ``rule=None`` for fixed patterns (the recovery theorem's setting);
  ``Sequential.published()`` is the published code's rule;
* :class:`Minibatch`: epochs of one step per shuffled batch (the published code's schedule on
  large data), or ``batches=None`` for full-batch steps;
* :class:`Restarts`: seeded tries with spare nonzeros, each refined, until one fits exactly.

:func:`sparsecert.fit` takes them, and so do the fits it chooses between
(:func:`sparsecert.relu.fit_two_layer`, :func:`sparsecert.deep.fit_factored`,
:func:`sparsecert.deep.fit_layerwise`) and the estimators.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .recovery.config import IHT
from .validation import check_bool, check_float, check_int, check_option

__all__ = ["IHT", "Sequential", "Minibatch", "Restarts", "check_config", "from_keywords", "device_of"]


@dataclass(frozen=True)
class Sequential:
    """The sequential-convex rule: each unit's generator follows its weights (the paper's method).

    Parameters
    ----------
    period : int, >= 1
        Steps between generator updates.
    admission : {"adaptive", "halving", "all"}
        How units enter the support at an update (see
        :class:`~sparsecert.recovery.SequentialIHTSolver`); ``"all"`` is the published rule. On
        minibatches (:class:`~sparsecert.recovery.MinibatchIHTSolver`) ``"adaptive"`` and
        ``"halving"`` both halve the entering units from the first step, judged on the batch, and
        also merge twin units and let dead units' weights go; ``"all"`` does neither.
    idle : {"residual", "random"}
        Generators of units without weights: the one-feature generator that best fits the
        residual, or the random draw (the published rule). Full batch.
    unit_moves : bool
        Merge or split units when an update brings no better network (full batch).
    merge_twins : bool
        Merge units whose weights are positive multiples of each other (full batch; on minibatches
        twins are merged under ``"adaptive"`` and ``"halving"`` admission).
    """

    period: int = 1
    admission: str = "adaptive"
    idle: str = "residual"
    unit_moves: bool = True
    merge_twins: bool = False

    def __post_init__(self) -> None:
        from .recovery import ADMISSIONS, IDLE_GENERATORS

        check_int(self.period, "period", low=1)
        check_option(self.admission, "admission", set(ADMISSIONS))
        check_option(self.idle, "idle", set(IDLE_GENERATORS))
        check_bool(self.unit_moves, "unit_moves")
        check_bool(self.merge_twins, "merge_twins")

    @classmethod
    def published(cls) -> Sequential:
        """The published code's rule: every entering unit admitted at each update, idle units
        keep their random generators, no unit moves or merges."""
        return cls(admission="all", idle="random", unit_moves=False, merge_twins=False)


@dataclass(frozen=True)
class Minibatch:
    """Epochs of one step per shuffled batch of ``batch_size`` samples (rows shuffled by ``rng``).

    A feature-major (F-contiguous) ``X`` is read in place: no batch is copied.
    """

    batch_size: int
    epochs: int = 1

    def __post_init__(self) -> None:
        check_int(self.batch_size, "batch_size", low=1)
        check_int(self.epochs, "epochs", low=1)


@dataclass(frozen=True)
class Restarts:
    """Several seeded fits with room to spare, each refined, until one fits exactly (scalar output,
    one hidden layer, full batch).

    Try ``k`` fits ``ceil(slack s)`` nonzeros from generators seeded by the ``k``-th child of ``rng``;
    :func:`sparsecert.relu.refine_relu` then takes Gauss-Newton steps on its nonzero weights, drops the
    negligible ones and, if more than ``s`` remain, keeps the ``s`` largest and refines again. The tries
    stop at the first network whose relative residual is at most ``IHT.tol``; the best is returned.
    On planted nets (d = 10-20, m = 5-20, 2-4 weights a unit, n >= 50 s) the spare nonzeros let the
    sequential rule reach the right patterns and the refinement finishes what its slow last steps
    leave (``docs/explanations/sparse_relu.md``).

    Parameters
    ----------
    tries : int, >= 1
        At most this many fits (the ``k``-th seeded by ``rng.spawn``'s ``k``-th child, so a larger
        ``tries`` repeats the smaller's first fits). 16: at (5000, 20, 20, 60) two of three planted
        nets that 8 tries missed were exact at the 12th.
    slack : float, >= 1
        The fits' nonzeros over ``s``.
    """

    tries: int = 16
    slack: float = 1.5

    def __post_init__(self) -> None:
        check_int(self.tries, "tries", low=1)
        check_float(self.slack, "slack", low=1.0)


def check_config(value: Any, kind: type, name: str) -> Any:
    """``value`` if it is a ``kind`` (TypeError naming ``name`` otherwise)."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a sparsecert.{kind.__name__}, got {type(value).__name__}")
    return value


def from_keywords(options: dict) -> dict:
    """0.4's keywords of the two-layer fit (``method``, ``inner_iter``, ``max_iter``, ``tol``, ``xtol``,
    ``block``; ``sequential`` and the rule's; ``batch_size``, ``epochs``; ``backend``, ``device``) as
    the configuration objects that replace them (``solver``, ``rule``, ``batches``, ``device``), the
    other keywords as they are: what the deprecated names (``recover_relu``, ``recover_mlp``) pass on."""
    rest = dict(options)

    def take(kind: type) -> dict:
        return {f.name: rest.pop(f.name) for f in fields(kind) if f.name in rest}

    sequential = rest.pop("sequential", True)
    batch_size, epochs = rest.pop("batch_size", None), rest.pop("epochs", 1)
    backend, device = rest.pop("backend", "numpy"), rest.pop("device", None)
    rest["solver"] = IHT(**take(IHT))
    rule = Sequential(**take(Sequential))
    rest["rule"] = rule if sequential else None
    rest["batches"] = Minibatch(batch_size, epochs) if batch_size else None
    rest["device"] = device_of(backend, device)
    return rest


def device_of(backend: str = "numpy", device: str | None = None) -> str | None:
    """0.4's ``backend``, ``device`` keywords as the one ``device`` of the fits: None for NumPy, the torch
    device (``"cpu"`` by default) for torch."""
    return None if check_option(backend, "backend", {"numpy", "torch"}) == "numpy" else (device or "cpu")
