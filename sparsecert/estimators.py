"""scikit-learn estimators over the IHT core (scikit-learn is needed only here).

* :class:`SparseRegressor`: an s-sparse linear model ``y ~ X w + b`` by the IHT family.
* :class:`SparseReLURegressor`: a sparse two-layer ReLU net ``y ~ sum_j relu(x . u_j) v_j``
  fitted by sequential-convex (or fixed-pattern) IHT (:func:`sparsecert.relu.fit_two_layer`).
* :class:`SparseReLUClassifier`: a sparse two-layer ReLU net with one output per class,
  fitted on one-hot targets by vector IHT (:func:`sparsecert.deep.fit_factored`);
  binary and multiclass.

They follow scikit-learn's conventions: parameters are stored as given and
validated in ``fit`` against each class's declared ``_parameter_constraints`` (types, intervals,
options; anything else is scikit-learn's ``InvalidParameterError``, a ``ValueError`` and
``TypeError``: ``fit_intercept="False"`` is refused, not read as true); fitted attributes end with an underscore (``coef_``,
``support_``, ``net_``, ``n_iter_``, ``result_``); ``random_state`` seeds the
random generators of the fit; ``predict`` before ``fit`` raises
``NotFittedError``; non-finite input is refused. They work in ``Pipeline`` and
``GridSearchCV`` (e.g. choosing ``s`` by cross-validation).
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from scipy.special import softmax
from sklearn.utils._param_validation import Interval, StrOptions  # scikit-learn's own parameter constraints
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .configs import Minibatch, Restarts, Sequential
from .recovery import IHT, LOSSES, METHODS, iht, iht_omp, omp, portfolio
from .validation import refuse_fields, warn_deprecated

__all__ = ["SparseRegressor", "SparseReLURegressor", "SparseReLUClassifier"]


def _seed(random_state):
    """An int seed from scikit-learn's ``random_state`` (None, int or RandomState)."""
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}")


_POSITIVE = Interval(Integral, 1, None, closed="left")


def _set_fitted(est, result):
    """The fitted attributes every estimator here has: ``result_`` (lean: no training data),
    ``coef_`` (the dense weights IHT recovered), ``support_``, ``n_iter_``."""
    est.result_, est.coef_, est.support_, est.n_iter_ = result.lean(), result.w.to_dense(), result.w.indices, result.n_iter


class SparseRegressor(RegressorMixin, BaseEstimator):
    """Linear regression with at most ``s`` nonzero coefficients, by iterative hard thresholding.

    Parameters
    ----------
    s : int
        Nonzero coefficients (capped at the number of features).
    method : {"iht", "niht", "aiht", "htp", "omp"}
        The IHT variant of every IHT run (default ``"htp"``), or ``"omp"``: orthogonal matching
        pursuit alone (:func:`sparsecert.recovery.omp`; ``splice`` and ``restart`` do not apply).
    max_iter : int
    tol : float
        Relative residual at which a fit counts as exact and the fit stops.
    fit_intercept : bool
        Centre X and y before the fit (the intercept is not thresholded).
    splice : int
        After IHT, exchange up to ``splice`` coefficients at a time while that
        lowers the residual (abess's splicing, :meth:`sparsecert.IHTSolver.splice`);
        0 turns it off. The default 2 recovers from fewer samples (the benchmark
        against abess and OMP) at one extra pass per exchange.
    restart : {"portfolio", "omp", None}
        ``"portfolio"`` (default): OMP, HTP from OMP's solution and from zero, then Bayesian AMP
        and the MCP path each polished by HTP, tried in turn until one ends at ``tol``
        (:func:`sparsecert.recovery.portfolio`): on noiseless Gaussian problems it needs the
        fewest samples of the peer benchmark (fewer than skglm's MCP path and abess) and, where
        OMP or HTP already succeed, their time (docs/explanations, "compared with"). With noise no
        fit reaches ``tol``: every stage runs (tens of milliseconds at N = 1000) and the
        ``s``-sparse fit of smallest residual is kept.
        ``"omp"``: its first stage only (:func:`sparsecert.recovery.iht_omp`).
        None: one IHT run.
    criterion : {None, "sic", "bic"}
        None (default): ``s`` nonzeros. Otherwise ``s`` is the largest support tried: a fit is made
        for every ``k = 1 .. s`` (stopping at the first exact one) and the ``k`` minimising
        ``n log(RSS_k / n) + k c`` is kept, with ``c = log(N) log(log n)`` for ``"sic"`` (abess's
        special information criterion, Zhu et al. 2020) or ``log n`` for ``"bic"``; ``RSS_k`` is
        floored at ``(tol ||y||)^2``, so among exact fits the smallest ``k`` wins. ``s_`` is the
        ``k`` kept, ``criterion_`` the values.
    random_state : None, int or RandomState
        Accepted for scikit-learn compatibility; the fit is deterministic.

    Attributes
    ----------
    coef_ : ndarray, shape (n_features,)
    intercept_ : float
    support_ : ndarray of int, the nonzero coefficients
    n_iter_ : int
    result_ : RecoveryResult
    s_ : int
        The number of nonzeros fitted (``s`` capped at the features, or the criterion's choice).
    criterion_ : ndarray, shape (k,)
        With a ``criterion``: its value for ``k = 1, 2, ...`` (the fits made).
    """

    def __init__(
        self,
        s: int = 10,
        *,
        method: str = "htp",
        max_iter: int = 500,
        tol: float = 1e-10,
        fit_intercept: bool = True,
        splice: int = 2,
        restart: str | None = "portfolio",
        criterion: str | None = None,
        random_state: Any = None,
    ) -> None:
        self.s = s
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.splice = splice
        self.restart = restart
        self.criterion = criterion
        self.random_state = random_state

    _parameter_constraints: dict = {
        "s": [_POSITIVE],
        "method": [StrOptions(set(METHODS) | {"omp"})],
        "max_iter": [_POSITIVE],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "splice": [Interval(Integral, 0, None, closed="left")],
        "restart": [StrOptions({"omp", "portfolio"}), None],
        "criterion": [StrOptions({"sic", "bic"}), None],
        "random_state": ["random_state"],
    }

    def fit(self, X: Any, y: Any) -> SparseRegressor:
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        s = min(int(self.s), X.shape[1])
        x_mean = X.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1])
        y_mean = float(y.mean()) if self.fit_intercept else 0.0
        max_iter, splice, tol = int(self.max_iter), int(self.splice), float(self.tol)
        if self.fit_intercept:
            X, y = X - x_mean, y - y_mean

        def fit_k(k):
            if self.method == "omp":
                return omp(X, y, k, tol=tol)
            if self.restart is None:
                return iht(X, y, k, solver=IHT(self.method, max_iter=max_iter, tol=tol), splice=splice, progress=False)
            fit = iht_omp if self.restart == "omp" else portfolio
            return fit(X, y, k, method=self.method, tol=tol, progress=False, max_iter=max_iter, splice=splice)

        if self.criterion is None:
            result = fit_k(s)
        else:
            n, N = X.shape
            c = np.log(N) * np.log(np.log(max(n, 3))) if self.criterion == "sic" else np.log(n)
            floor = (tol * float(np.linalg.norm(y))) ** 2 or np.finfo(float).tiny
            fits, values = [], []
            for k in range(1, s + 1):
                fits.append(fit_k(k))
                rss = float(np.sum((y - X @ fits[-1].w.to_dense()) ** 2))
                values.append(n * np.log(max(rss, floor) / n) + k * c)
                if rss <= floor:
                    break
            s = int(np.argmin(values)) + 1
            result, self.criterion_ = fits[s - 1], np.asarray(values)
        self.s_ = s
        _set_fitted(self, result)
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_


class SparseReLURegressor(RegressorMixin, BaseEstimator):
    """A two-layer ReLU net with at most ``s`` nonzero hidden weights (scalar output).

    Parameters
    ----------
    m : int
        Hidden width.
    s : int
        Nonzero hidden weights (capped at ``m * n_features``).
    solver : sparsecert.IHT, optional
        The step and its stopping rule (default ``IHT()``: the paper's AIHT, 100 iterations).
    rule : sparsecert.Sequential, "sequential" or None
        The sequential-convex rule (``"sequential"``, default: ``Sequential()``, the paper's method),
        or None for fixed random patterns.
    batches : sparsecert.Minibatch, optional
        Minibatch IHT (epochs of one step per batch); default full-batch steps.
    output_sign : {"auto", "positive", "mixed"}
        Output weights all +1, or +-1 (pairs of units); ``"auto"`` (default): all +1
        where every target is ``>= 0``, else +-1 (as :func:`sparsecert.relu.fit_two_layer`).
    device : str, optional
        Run on the torch backend there (``"cpu"``, ``"cuda"``).
    restarts : sparsecert.Restarts, optional
        Seeded tries with spare nonzeros, each refined by Gauss-Newton steps, until one fits exactly
        (full batch): recovers planted nets from scratch (:class:`sparsecert.Restarts`). With noise
        no try is exact and all of them run.
    random_state : None, int or RandomState
    method, max_iter, sequential, batch_size
        0.4's parameters (deprecated, until 0.6: a FutureWarning names the configuration that replaces
        them; ``batch_size`` takes ``max_iter`` epochs, as it did).

    Attributes
    ----------
    net_ : ReLUNet
        Two layers (``net_.U``, ``net_.v``).
    coef_ : ndarray, the fused weights (m' * n_features,), m' = 2 m for mixed signs
    support_, n_iter_, result_
    """

    def __init__(
        self,
        m: int = 10,
        s: int = 20,
        *,
        solver: Any = None,
        rule: Any = "sequential",
        batches: Any = None,
        output_sign: str = "auto",
        device: str | None = None,
        restarts: Any = None,
        random_state: Any = None,
        method: Any = "deprecated",
        max_iter: Any = "deprecated",
        sequential: Any = "deprecated",
        batch_size: Any = "deprecated",
    ) -> None:
        self.m = m
        self.s = s
        self.solver = solver
        self.rule = rule
        self.batches = batches
        self.output_sign = output_sign
        self.device = device
        self.restarts = restarts
        self.random_state = random_state
        self.method = method
        self.max_iter = max_iter
        self.sequential = sequential
        self.batch_size = batch_size

    _parameter_constraints: dict = {
        "m": [_POSITIVE],
        "s": [_POSITIVE],
        "solver": [IHT, None],
        "rule": [Sequential, StrOptions({"sequential"}), None],
        "batches": [Minibatch, None],
        "output_sign": [StrOptions({"auto", "positive", "mixed"})],
        "method": [StrOptions(set(METHODS) | {"deprecated"})],
        "max_iter": [_POSITIVE, StrOptions({"deprecated"})],
        "sequential": ["boolean", StrOptions({"deprecated"})],
        "batch_size": [_POSITIVE, None, StrOptions({"deprecated"})],
        "device": [str, None],
        "restarts": [Restarts, None],
        "random_state": ["random_state"],
    }

    def fit(self, X: Any, y: Any) -> SparseReLURegressor:
        from .fitting import fit

        self._validate_params()
        solver, rule, batches = self._configs()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        m = int(self.m)
        s = min(int(self.s), m * X.shape[1])
        self.net_, result = fit(X, y, m=m, s=s, solver=solver, rule=rule, batches=batches, output_sign=self.output_sign,
                                restarts=self.restarts, rng=_seed(self.random_state), progress=False,
                                device=self.device)
        _set_fitted(self, result)
        return self

    def _configs(self) -> tuple:
        """``(solver, rule, batches)`` for :func:`sparsecert.fit`, 0.4's flat parameters folded in."""
        solver = IHT() if self.solver is None else self.solver
        rule = Sequential() if self.rule == "sequential" else self.rule
        old = {k: getattr(self, k) for k in ("method", "max_iter", "sequential", "batch_size")
               if getattr(self, k) != "deprecated"}
        if not old:
            return solver, rule, self.batches
        warn_deprecated(f"SparseReLURegressor({', '.join(f'{k}=...' for k in old)})",
                        "SparseReLURegressor(solver=sparsecert.IHT(method, max_iter), rule=Sequential() | None, "
                        "batches=sparsecert.Minibatch(batch_size, epochs))", stacklevel=4)
        solver = replace(solver, **{k: old[k] for k in ("method", "max_iter") if k in old})
        rule = rule if old.get("sequential", True) else None
        batches = Minibatch(old["batch_size"], solver.max_iter) if old.get("batch_size") else self.batches
        return solver, rule, batches

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.net_.forward(X)


class SparseReLUClassifier(ClassifierMixin, BaseEstimator):
    """A two-layer ReLU net with one output per class and at most ``s`` nonzero weights over both
    layers, fitted on one-hot targets by vector IHT; predicts the class of the largest output.

    Parameters
    ----------
    m : int
        Hidden width.
    s : int
        Nonzero weights over both layers (capped at ``m (n_features + n_classes)``).
    max_iter : int
    random_state : None, int or RandomState
    loss : {"cross-entropy", "squared"}
        The fit's loss on the one-hot targets (:class:`sparsecert.recovery.FactoredIHTSolver`).
        Cross-entropy (default) also gives :meth:`predict_proba` (the softmax of the outputs).

    Attributes
    ----------
    classes_ : ndarray
    net_ : ReLUNet
        One hidden layer; the output layer ``net_.Ws[-1]`` of shape (n_classes, m).
    n_iter_, result_
    """

    def __init__(self, m: int = 16, s: int = 200, *, solver: Any = None, random_state: Any = None,
                 loss: str = "cross-entropy", max_iter: Any = "deprecated") -> None:
        self.m = m
        self.s = s
        self.solver = solver
        self.random_state = random_state
        self.loss = loss
        self.max_iter = max_iter

    _parameter_constraints: dict = {
        "m": [_POSITIVE],
        "s": [Interval(Integral, 2, None, closed="left")],
        "solver": [IHT, None],
        "random_state": ["random_state"],
        "loss": [StrOptions(set(LOSSES))],
        "max_iter": [_POSITIVE, StrOptions({"deprecated"})],
    }

    def fit(self, X: Any, y: Any) -> SparseReLUClassifier:
        from .fitting import fit

        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, idx = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"SparseReLUClassifier needs samples of at least 2 classes; got {self.classes_.size} class")
        m, k = int(self.m), self.classes_.size
        s = min(int(self.s), m * (X.shape[1] + k))
        Y = np.eye(k)[idx]
        self.net_, result = fit(X, Y, m=m, s=s, solver=self._solver(), rng=_seed(self.random_state), progress=False)
        self.result_, self.n_iter_ = result.lean(), result.n_iter
        return self

    def _solver(self) -> IHT:
        """The fit's :class:`~sparsecert.IHT`: ``solver`` (default 200 iterations) with ``loss``, 0.4's
        ``max_iter`` folded in."""
        solver = IHT(max_iter=200) if self.solver is None else self.solver
        refuse_fields(solver, ("loss",), "SparseReLUClassifier's solver",
                      "the classifier's loss is its parameter loss=")
        if self.max_iter != "deprecated":
            warn_deprecated("SparseReLUClassifier(max_iter=...)", "SparseReLUClassifier(solver=sparsecert.IHT(max_iter=...))",
                            stacklevel=5)
            solver = replace(solver, max_iter=self.max_iter)
        return replace(solver, loss=self.loss)

    def decision_function(self, X: Any) -> np.ndarray:
        """The net's outputs, shape (n, n_classes); for two classes, scikit-learn's convention:
        shape (n,), positive for ``classes_[1]`` (the difference of the two outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = self.net_.forward(X)
        return out[:, 1] - out[:, 0] if self.classes_.size == 2 else out

    @available_if(lambda self: self.loss == "cross-entropy")
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes): the softmax of the net's outputs (the model
        the cross-entropy fit is the likelihood of)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return softmax(self.net_.forward(X), axis=1)

    def predict(self, X: Any) -> np.ndarray:
        scores = self.decision_function(X)  # (checks fitted first)
        return self.classes_[(scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)]
