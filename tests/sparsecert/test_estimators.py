"""scikit-learn estimators (issue 20, item 1): scikit-learn's own estimator checks, Pipeline and
GridSearchCV, fitted attributes and bad input."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import sparsecert as sc  # noqa: E402
from sparsecert.estimators import SparseReLUClassifier, SparseReLURegressor, SparseRegressor  # noqa: E402

#: Checks that cannot apply, with the reason (scikit-learn asks estimators to list them).
EXPECTED_FAILED = {}


def _expected(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [SparseRegressor(s=3), SparseReLURegressor(m=4, s=8, solver=sc.IHT(max_iter=20), random_state=0),
     SparseReLURegressor(m=4, s=8, solver=sc.IHT(max_iter=20), restarts=sc.Restarts(tries=2), random_state=0),
     SparseReLUClassifier(m=8, s=60, solver=sc.IHT(max_iter=100), random_state=0)],
    expected_failed_checks=_expected,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_cross_validation_finds_the_true_sparsity():
    """GridSearchCV over s on a planted 5-sparse linear problem picks s = 5 (fewer misses the
    signal, more fits noise and validates worse), inside a Pipeline with a scaler. One HTP run per
    fit (``restart=None``): the default portfolio keeps the s-sparse fit of smallest residual among
    several, which here validates s = 8 higher than s = 5 by 3e-4 in R^2 (a tie within the noise)."""
    p = sc.planted_gaussian(120, 60, 5, rng=3, noise=0.05)
    X = p.A.to_dense()
    search = GridSearchCV(make_pipeline(StandardScaler(), SparseRegressor(method="htp", restart=None)),
                          {"sparseregressor__s": [1, 2, 3, 4, 5, 8, 12, 20]}, cv=KFold(5, shuffle=True, random_state=0))
    search.fit(X, p.y)
    assert search.best_params_["sparseregressor__s"] == 5
    reg = search.best_estimator_[-1]
    np.testing.assert_array_equal(reg.support_, p.w.indices)
    assert reg.coef_.shape == (60,) and reg.n_iter_ >= 1 and reg.result_.status in sc.STATUSES


def test_relu_regressor_with_restarts_recovers_a_planted_net():
    """A mixed-sign planted net one sequential fit misses (test_fitting has the same instance):
    with ``restarts`` the estimator's predictions on fresh samples match the planted net's to 1e-6."""
    p = sc.planted_relu(1000, 10, 5, 20, rng=7, output_sign="mixed")
    Xt = np.random.default_rng(0).standard_normal((400, 10))
    reg = SparseReLURegressor(m=5, s=20, output_sign="mixed", restarts=sc.Restarts(), random_state=7).fit(p.X, p.y)
    yt = p.model.forward(Xt)
    assert np.linalg.norm(reg.predict(Xt) - yt) <= 1e-6 * np.linalg.norm(yt) and reg.net_.fused_weights().nnz <= 20
    with pytest.raises(ValueError, match="'restarts' parameter of SparseReLURegressor must be an instance of"):
        SparseReLURegressor(restarts=3).fit(p.X, p.y)


def test_relu_estimators_fit_planted_nets():
    p = sc.planted_relu(600, 5, 4, 8, rng=0, output_sign="mixed")
    reg = SparseReLURegressor(m=4, s=8, output_sign="mixed", solver=sc.IHT(max_iter=50), random_state=1).fit(p.X, p.y)
    assert reg.score(p.X, p.y) > 0.9 and reg.net_.U.shape[1] == 5
    X = np.random.default_rng(0).standard_normal((300, 4))
    y = np.where(X[:, 0] > 0.3, "a", np.where(X[:, 1] > 0, "b", "c"))
    clf = SparseReLUClassifier(m=12, s=80, solver=sc.IHT(max_iter=300), random_state=0).fit(X, y)
    assert list(clf.classes_) == ["a", "b", "c"] and clf.score(X, y) > 0.85
    # cross-entropy (default) fits the softmax model: probabilities sum to one and their argmax
    # is predict; the squared loss has no likelihood, hence no predict_proba
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X))
    assert not hasattr(SparseReLUClassifier(loss="squared"), "predict_proba")
    assert SparseReLUClassifier(m=12, s=80, solver=sc.IHT(max_iter=300), random_state=0, loss="squared").fit(X, y).score(X, y) > 0.85


def test_bad_input_and_unfitted():
    with pytest.raises(NotFittedError):
        SparseRegressor().predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN|infinity"):
        SparseRegressor().fit(np.array([[1.0, np.nan], [0.0, 1.0]]), [1.0, 2.0])
    with pytest.raises(ValueError, match="'s' parameter of SparseRegressor must be an int in the range"):
        SparseRegressor(s=0).fit(np.eye(3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'method' parameter of SparseRegressor must be a str among"):
        SparseRegressor(method="lasso").fit(np.eye(3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'restart' parameter of SparseRegressor must be a str among .*'portfolio'.* or None"):
        SparseRegressor(restart="abess").fit(np.eye(3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'splice' parameter of SparseRegressor must be an int in the range"):
        SparseRegressor(splice=-1).fit(np.eye(3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2 classes|one class"):
        SparseReLUClassifier().fit(np.eye(3), [1, 1, 1])
    with pytest.raises(ValueError, match="'loss' parameter of SparseReLUClassifier must be a str among"):
        SparseReLUClassifier(loss="hinge").fit(np.eye(3), [0, 1, 0])


def test_sparse_regressor_omp_is_scikit_learns_omp():
    """method="omp" gives scikit-learn's OrthogonalMatchingPursuit fit (coefficients and intercept,
    1e-10) on a noisy planted problem with an offset."""
    from sklearn.linear_model import OrthogonalMatchingPursuit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 40))
    y = X[:, [3, 7, 11]] @ np.array([1.5, -2.0, 0.7]) + 0.3 + 0.05 * rng.standard_normal(80)
    ours = SparseRegressor(s=4, method="omp").fit(X, y)
    ref = OrthogonalMatchingPursuit(n_nonzero_coefs=4).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-10)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-10)


@pytest.mark.parametrize("estimator,param,bad", [
    (SparseRegressor, "fit_intercept", "False"), (SparseRegressor, "s", 0), (SparseRegressor, "method", "lasso"),
    (SparseRegressor, "restart", "ompp"), (SparseRegressor, "tol", -1.0), (SparseRegressor, "splice", 1.5),
    (SparseReLURegressor, "sequential", "False"), (SparseReLURegressor, "output_sign", "negative"),
    (SparseReLURegressor, "batch_size", 0), (SparseReLURegressor, "m", 2.5),
    (SparseReLUClassifier, "s", 1), (SparseReLUClassifier, "loss", "hinge"),
])
def test_parameters_are_refused_at_fit_with_scikit_learns_error(estimator, param, bad):
    """Each declared constraint (type, interval, option) refuses a value outside it with
    scikit-learn's InvalidParameterError (a ValueError and a TypeError) naming the parameter; the
    string "False" is not a false boolean."""
    from sklearn.utils._param_validation import InvalidParameterError

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 2, 40)
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of {estimator.__name__}"):
        estimator(**{param: bad}).fit(X, y)


def test_a_fitted_estimators_pickle_carries_no_training_data():
    """The fitted ReLU estimator keeps what predict needs (the net, the weights, the support, a lean
    result: numbers, strings and dicts of them, such as memory_parts): its pickle is O(s + m d), far below
    X (800 KB here), and predicts the same."""
    import pickle

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 100))
    y = np.maximum(X[:, :3].sum(axis=1), 0)
    for est in (SparseReLURegressor(m=6, s=17, solver=sc.IHT(max_iter=20), random_state=0),
                SparseReLUClassifier(m=6, s=40, solver=sc.IHT(max_iter=20), random_state=0)):
        est.fit(X, y if isinstance(est, SparseReLURegressor) else (y > 1).astype(int))
        blob = pickle.dumps(est)
        assert len(blob) < 64_000, (type(est).__name__, len(blob))
        assert np.array_equal(pickle.loads(blob).predict(X[:5]), est.predict(X[:5]))
        scalar = (bool, int, float, str, type(None))
        info = est.result_.info
        assert all(isinstance(v, scalar) or all(isinstance(x, scalar) for x in v.values()) for v in info.values())
        assert sum(info["memory_parts"].values()) == est.result_.peak_memory


def test_information_criteria_choose_the_sparsity():
    """With ``criterion``, ``s`` is the largest support tried. Noiseless: the planted 8-sparse w is the
    first exact fit, RSS is floored at (tol ||y||)^2 from there on, so the smallest exact k wins and
    no larger k is fitted. Noisy (SNR about 26 dB): SIC's penalty log(N) log(log n) per nonzero
    picks the planted support; each value is n log(RSS_k / n) + k c, recomputed here."""
    p = sc.planted_gaussian(120, 300, 8, rng=3)
    reg = SparseRegressor(20, criterion="sic", fit_intercept=False).fit(p.A.to_dense(), p.y)
    assert reg.s_ == 8 and reg.criterion_.size == 8 and np.array_equal(reg.support_, p.w.indices)
    q = sc.planted_gaussian(120, 300, 8, rng=3, noise=0.05)
    X = q.A.to_dense()
    reg = SparseRegressor(20, criterion="sic", fit_intercept=False).fit(X, q.y)
    assert reg.s_ == 8 and np.array_equal(reg.support_, q.w.indices)
    rss = np.sum((q.y - X @ reg.coef_) ** 2)
    assert reg.criterion_[7] == pytest.approx(120 * np.log(rss / 120) + 8 * np.log(300) * np.log(np.log(120)))
    assert reg.criterion_.size == 20 and np.argmin(reg.criterion_) == 7
    with pytest.raises(ValueError, match="'criterion' parameter of SparseRegressor must be a str among"):
        SparseRegressor(criterion="aic").fit(X, q.y)
