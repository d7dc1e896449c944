"""The IHT paper's real-data problems as NumPy arrays (no torch needed).

* :func:`class_task`: classification with a sparse two-layer net (Fig. 3 of
  Fridovich-Keil & Pilanci): **binary** (two classes, targets 0/1, predicted
  class ``f(x) >= 0.5``; MNIST 0 vs 1, CIFAR-10 airplane vs automobile) or
  **multi-class** (one-hot targets, predicted class ``argmax f(x)``).
* :func:`fourier_features`, :func:`inr_task`: an implicit neural
  representation of one image (Figs. 4-5). Each pixel's integer coordinates
  ``x`` (row, column, and the channel index for colour images) become random
  Fourier features ``gamma(x) = [sin(2 pi B x), cos(2 pi B x)]`` with
  ``d = 1500`` features (750 frequencies), ``B ~ N(0, sigma^2)`` (sigma 2 for
  MNIST, 5 for CIFAR-10; the channel column ``N(0, 0.05^2)``), and the
  target is the pixel's intensity in [0, 1]. The metric is the PSNR of the
  fit on the pixels themselves (peak 1).

Every task is a :class:`Task`; :meth:`Task.score` turns predictions into the
paper's metric.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from sparsecert import data as D
from sparsecert.validation import check_array, check_float, check_int, check_rng, integer_seed
from sparsecert.metrics import psnr
from sparsecert.planted import capacity

__all__ = ["Task", "class_task", "fourier_features", "inr_task", "fit_iht", "fit_imp", "fit_imp_tuned", "imp_bytes",
           "warm_up", "TUNED_LRS", "TUNED_EPOCH_FACTORS"]

#: Divisor of each dataset's pixels (``"standard"``: per-feature standardisation
#: with the training statistics, as the paper does for CIFAR-10).
SCALES = {"digits": 16.0, "cifar10": "standard"}


@dataclass
class Task:
    """One fitting problem.

    Attributes
    ----------
    name : str
    kind : {"binary", "multiclass", "regression"}
    X : ndarray, shape (n, d)
        Training inputs (float64).
    y : ndarray, shape (n,) or (n, k)
        Targets: 0/1 (binary), one-hot (multiclass), values in [0, 1] (regression).
    X_test, y_test : ndarray
        Held-out data; for an INR the pixels themselves (the fit is the point).
    labels : ndarray of int
        Class labels of ``y_test`` (classification only).
    B : ndarray, shape (d/2, c)
        Fourier frequencies (INR only).
    """

    name: str
    kind: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    labels: np.ndarray | None = None
    B: np.ndarray | None = None

    @property
    def metric(self) -> str:
        return "PSNR" if self.kind == "regression" else "test accuracy"

    def score(self, pred):
        """The paper's metric of predictions on ``X_test``: accuracy, or PSNR (peak 1)."""
        pred = np.asarray(pred, dtype=np.float64)
        if pred.shape[0] != self.y_test.shape[0]:
            raise ValueError(f"pred must have {self.y_test.shape[0]} rows, got shape {pred.shape}")
        if self.kind == "regression":
            return psnr(self.y_test, pred.reshape(self.y_test.shape), peak=1.0)
        if self.kind == "binary":
            return float(np.mean((pred.reshape(-1) >= 0.5) == (self.labels == 1)))
        return float(np.mean(pred.argmax(axis=1) == self.labels))


def class_task(dataset, classes=None, *, per_class=None, per_class_test=None, root=None, sample_major=False):
    """Flattened images of ``dataset`` as a binary or multi-class problem.

    Parameters
    ----------
    dataset : str
        A name of :data:`sparsecert.data.DATASETS` (``"mnist"``, ``"cifar10"``, ``"digits"``, ...).
    classes : sequence of int, optional
        Two classes: binary targets (the second is 1). More, or None (all):
        one-hot targets, in this order.
    per_class, per_class_test : int, optional
        Keep the first this many images of each class in the train / test
        files (the paper: 5000 / 1000 for MNIST).
    root : path, optional
        Data directory (see :mod:`sparsecert.data`).
    sample_major : bool, optional
        Hold the training X sample-major (C-contiguous): the factored fit's minibatches (one-hot
        targets, ``minibatch``) read their rows in place. Default feature-major (F-contiguous): the
        ReLU operator's fits read X.T and their minibatches in place.

    Returns
    -------
    Task
        Pixels divided by 255 (16 for the digits); CIFAR-10 standardised per
        feature with the training statistics.
    """
    scale = SCALES.get(dataset, 255.0)
    Xtr, ytr = D.load(dataset, "train", root=root)
    Xte, yte = D.load(dataset, "test", root=root)
    if classes is None:
        classes = np.unique(ytr)
    classes = [int(c) for c in classes]
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must name at least two distinct labels, got {classes}")
    X, y, stats = D.prepare(Xtr, ytr, classes=classes, per_class=per_class, scale=scale)
    X = np.ascontiguousarray(X) if sample_major else np.asfortranarray(X)  # what the fit reads in place
    Xt, yt, _ = D.prepare(Xte, yte, classes=classes, per_class=per_class_test, scale=scale, stats=stats)
    if len(classes) == 2:
        kind, Y, Yt = "binary", y.astype(np.float64), yt.astype(np.float64)
    else:
        kind, Y, Yt = "multiclass", np.eye(len(classes))[y], np.eye(len(classes))[yt]
    name = f"{dataset} {' vs '.join(map(str, classes))}" if kind == "binary" else f"{dataset} {len(classes)}-class"
    return Task(name, kind, X, Y, Xt, Yt, yt)


def fourier_features(coords, B):
    """Random Fourier features ``[sin(2 pi coords B^T), cos(2 pi coords B^T)]``.

    Parameters
    ----------
    coords : array_like, shape (n, c)
    B : array_like, shape (f, c)
        Frequencies.

    Returns
    -------
    ndarray, shape (n, 2 f)
    """
    coords = check_array(coords, "coords", ndim=2)
    B = check_array(B, "B", ndim=2, shape=(None, coords.shape[1]))
    P = 2.0 * np.pi * (coords @ B.T)
    return np.concatenate([np.sin(P), np.cos(P)], axis=1)


def inr_task(image, *, d=1500, sigma=2.0, channel_sigma=0.05, rng=0, name="image"):
    """One image as a regression problem: Fourier features of pixel coordinates -> intensity.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        uint8 (divided by 255) or float in [0, 1].
    d : int
        Number of features, even (``d / 2`` frequencies).
    sigma : float
        Standard deviation of the spatial frequencies (2: MNIST, 5: CIFAR-10).
    channel_sigma : float
        Standard deviation of the channel-index frequency (colour images).
    rng : None, int or Generator
        Draws ``B``.

    Returns
    -------
    Task
        ``kind="regression"``, ``X`` (H W C, d) in channel-major pixel order, F-contiguous (the
        layout IHT's passes read), ``X_test is X``, ``B`` the frequencies.
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {img.shape}")
    img = img / 255.0 if img.dtype == np.uint8 else check_array(img, "image").astype(np.float64)
    if img.min() < 0 or img.max() > 1:
        raise ValueError("a float image must have values in [0, 1]")
    d = check_int(d, "d", low=2)
    if d % 2:
        raise ValueError(f"d must be even (sin and cos of d/2 frequencies), got {d}")
    sigma = check_float(sigma, "sigma", low=0.0, low_open=True)
    rng = check_rng(rng)
    H, W = img.shape[:2]
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    B = rng.standard_normal((d // 2, 2)) * sigma
    if img.ndim == 2:
        coords, y = np.stack([rows.ravel(), cols.ravel()], axis=1), img.ravel()
    else:
        C = img.shape[2]
        ch = np.repeat(np.arange(C), H * W)
        coords = np.stack([np.tile(rows.ravel(), C), np.tile(cols.ravel(), C), ch], axis=1)
        y = img.transpose(2, 0, 1).ravel()
        B = np.concatenate([B, rng.standard_normal((d // 2, 1)) * check_float(channel_sigma, "channel_sigma", low=0.0)],
                           axis=1)
    # held feature-major (F-contiguous): IHT's passes read X.T, then a view, not a copy of the data
    X = np.asfortranarray(fourier_features(coords.astype(np.float64), B))
    return Task(name, "regression", X, y, X, y, B=B)


def imp_bytes(P, batch, widths):
    """Training memory of the dense IMP baseline: 24 bytes per weight (float32
    weight, gradient, Adam's two moments, mask and the rewind copy) plus the
    activations and their gradients of one batch (8 bytes per unit per sample)."""
    return 24 * int(P) + 8 * int(batch) * int(sum(widths))


#: ``fit_iht``'s default streaming block: the largest power of two up to 64 units whose columns (units x d)
#: are at most this many, so the pass's per-block arrays (the gradient block, its top-k candidates, the
#: block's generators) stay near 256 KB each whatever d (INR, d = 1500: 16 units; with 64 they were 7 of
#: the 8.7 MB an INR fit at m = 100 held). A power of two because BLAS rounds the block's products
#: alike for 8, 16, ..., 128 units but not for 41: the fits then match the 64-unit ones bit for bit,
#: which matters where a fit is chaotic (binary Fashion-MNIST at m = 1000: accuracy 0.93 with 16-128
#: units, 0.70 with 41)
BLOCK_COLUMNS = 2**15


def iht_block(d):
    """:func:`fit_iht`'s default block for ``d`` features."""
    return 2 ** int(np.clip(np.floor(np.log2(max(1, BLOCK_COLUMNS // d))), 0, 6))


def fit_iht(task, m, s, *, epochs=15, batch_size=None, block=None, minibatch=False, layers=1, rng=0, device=None):
    """Sparse ReLU net on ``task`` by sequential-convex IHT through :func:`sparsecert.fit` (NumPy, or with
    ``device`` its torch backend there, e.g. ``"cuda"``).

    Scalar targets (binary, INR): the two-layer fit (:func:`sparsecert.fit`) with
    AIHT, 10 inner steps, generators following the weights, ``epochs``
    full-batch iterations (or epochs of minibatch steps when ``batch_size``
    is given); one-hot targets: the factored fit of :func:`sparsecert.fit`
    (factored, softmax cross-entropy as in the published code and the IMP
    baseline, adaptive metric, full batch; heavy-ball momentum on minibatches) for as many iterations as ``epochs`` of
    minibatches of ``batch_size`` would take (``epochs`` without a batch
    size; the reference code's 50 epochs of batch 5000 on 50,000 images are
    500 steps), or with ``minibatch`` those steps on the minibatches themselves (the reference
    code's schedule, ``n / batch_size`` times cheaper). ``s`` is capped at the number of weights of a width-``m`` net. ``block``
    hidden units are streamed at a time (default :func:`iht_block`: a power of two up to 64,
    at most ``BLOCK_COLUMNS / d``): the working set is O(block (n + d) + s), not O(m d).
    ``layers`` > 1 (scalar targets): ``layers`` hidden layers of width ``m`` fitted one after another,
    ``s`` split evenly (:func:`sparsecert.fit` with ``layers``, the published deeper fit), each layer as
    the one-layer fit is.

    Returns
    -------
    dict with ``net`` (the fitted network), ``score`` (:meth:`Task.score`
    on ``X_test``), ``s_eff``, ``nnz``, ``n_iter`` (IHT iterations),
    ``bytes`` (the solver's peak working memory plus the returned network's arrays, which
    :class:`~sparsecert.nn.ReLUNet` holds dense: m (d + 1) floats a layer, its zero units too),
    ``memory_parts`` (``bytes`` by part: the solver's ``info["memory_parts"]`` at its peak, of the
    layer with the largest, and ``net``) and ``seconds``.
    """
    from sparsecert import IHT, Minibatch, fit

    t0 = time.perf_counter()
    d = task.X.shape[1]
    block = iht_block(d) if block is None else block
    layers = check_int(layers, "layers", low=1)
    if task.kind == "multiclass":
        if layers > 1:
            raise ValueError("fit_iht fits one hidden layer for one-hot targets (layers=1), got layers="
                             f"{layers}")
        s_eff = min(int(s), m * (d + task.y.shape[1]))
        steps = epochs * (-(-len(task.X) // batch_size) if batch_size and not minibatch else 1)
        net, res = fit(task.X, task.y, m=m, s=s_eff, solver=IHT(max_iter=steps, block=block, loss="cross-entropy"),
                       batches=Minibatch(batch_size, epochs) if batch_size and minibatch else None, rng=rng,
                       progress=False, device=device)
    else:
        s_eff = min(int(s), capacity(m, d, layers))
        net, res = fit(task.X, task.y, m=m, s=s_eff, solver=IHT(inner_iter=10, max_iter=epochs, block=block),
                       batches=Minibatch(batch_size, epochs) if batch_size else None, layers=layers,
                       output_sign="positive", rng=rng, progress=False, device=device)
    layer_results = res if isinstance(res, list) else [res]
    nnz = sum(int(r.w.nnz) for r in layer_results)
    top = max(layer_results, key=lambda r: r.peak_memory)  # the layer whose working set is the largest
    return {"net": net, "score": task.score(net.forward(task.X_test)), "s_eff": s_eff, "nnz": nnz,
            "n_iter": sum(int(r.n_iter) for r in layer_results), "bytes": int(top.peak_memory) + net.nbytes,
            "memory_parts": {**top.info.get("memory_parts", {}), "net": net.nbytes},
            "seconds": time.perf_counter() - t0}


def fit_imp(task, m, ss, *, epochs=15, batch_size=None, rate=0.1, lr=1e-3, layers=1, rng=0, progress=None,
            device=None):
    """The paper's IMP baseline at every sparsity of ``ss`` from one run (needs torch; on ``device``, e.g.
    ``"cuda"``, the CPU by default).

    A dense bias-free ReLU net ``d-m-k`` (``d-m-...-m-k`` with ``layers`` hidden layers; torch's
    default init), Adam (``lr``, the paper's 1e-3),
    MSE (cross-entropy for multi-class), ``epochs`` passes per round with
    minibatches of ``batch_size`` (default: full batch), ``rate`` of the
    surviving weights pruned per round by global magnitude, survivors rewound
    to the initialisation, until ``min(ss)`` weights remain. The score at
    ``s`` is that of the first round with at most ``s`` weights.

    Returns
    -------
    list of dict, one per ``s``: ``score``, ``kept``, ``round``, ``bytes``
    (:func:`imp_bytes`) and ``seconds`` (the whole run).
    """
    import torch

    from sparsecert.prune import Plan, prune
    from sparsecert import Training
    from sparsecert.torch_bridge import Evaluation, mlp

    t0 = time.perf_counter()
    n, d = task.X.shape
    k = task.y.shape[1] if task.kind == "multiclass" else 1
    layers = check_int(layers, "layers", low=1)
    P = capacity(m, d, layers) + m * k
    X = np.ascontiguousarray(task.X, dtype=np.float32)  # torch's layout, as the published code has it
    loss = "cross-entropy" if task.kind == "multiclass" else "mse"
    y = task.y.argmax(axis=1) if loss == "cross-entropy" else task.y.astype(np.float32)
    seed = integer_seed(rng)
    model = mlp([d] + [m] * layers + [k], init="torch", bias=False, rng=seed).to(device)  # drawn on the CPU
    batch = min(n, batch_size or n)
    target = max(1, min(min(int(v) for v in ss), P))
    plan = Plan(score="magnitude", schedule="iterative", scope="global", rate=rate, after="rewind", target=target)
    res = prune(model, X, y, plan, training=Training(epochs=epochs, batch_size=batch, lr=lr, loss=loss),
                evaluation=Evaluation(eval_every=10**9), rng=seed, progress=progress)
    seconds = time.perf_counter() - t0
    Xt = torch.as_tensor(task.X_test, dtype=torch.float32, device=device)
    rows = []
    for s in ss:
        r = next(i for i, kept in enumerate(res.kept) if kept <= s) if min(res.kept) <= s else len(res.kept) - 1
        model.load_state_dict(res.states[r])  # prune trains copies; model is still ours
        with torch.no_grad():
            pred = model(Xt).cpu().numpy()
        rows.append({"score": task.score(pred if k > 1 else pred[:, 0]), "kept": res.kept[r], "round": r,
                     "bytes": imp_bytes(P, batch, (m,) * layers + (k,)), "seconds": seconds})
    return rows


#: The tuned IMP's search (:func:`fit_imp_tuned`): Adam's learning rates, and the epochs per round as
#: multiples of the published ones (6 settings; planted nets: :data:`sparsecert.planted.TUNED_LRS`).
TUNED_LRS = (1e-3, 1e-2, 3e-2)
TUNED_EPOCH_FACTORS = (1, 3)


def fit_imp_tuned(task, m, ss, *, epochs=15, batch_size=None, lrs=TUNED_LRS, epoch_factors=TUNED_EPOCH_FACTORS,
                  val_fraction=0.2, layers=1, rng=0, device=None):
    """IMP with Adam's learning rate and its epochs per round chosen per ``s``, so that the comparison
    stands for a reader who finds the published setting unfair (:func:`fit_imp` for the rest).

    Classification: every ``(lr, factor * epochs)`` runs on a random ``1 - val_fraction`` of the
    training images and is scored at each ``s`` on the held-out rest; each ``s`` takes its best
    setting, run again on all the training images (once per setting chosen) and scored on the test
    set. Compute: ``0.8 len(lrs) sum(epoch_factors)`` published runs for the search plus at most one
    full run per chosen setting (about 10-16 with the defaults). INR: the fit is the point (the
    test pixels are the training pixels), so each ``s`` takes the setting with the best fit and the
    search's runs are the final ones (``len(lrs) sum(epoch_factors)``, 12).

    Returns
    -------
    list of dict, one per ``s``: :func:`fit_imp`'s keys plus ``lr``, ``epochs`` and ``seconds`` (the
    search and the final runs together).
    """
    t0 = time.perf_counter()
    settings = [(lr, f * epochs) for lr in lrs for f in epoch_factors]
    if task.kind == "regression":
        search, final = task, None
    else:
        order = np.random.default_rng(integer_seed(rng)).permutation(len(task.X))
        n_val = min(len(task.X) - 1, max(1, round(val_fraction * len(task.X))))
        val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
        labels = task.y[val].argmax(axis=1) if task.kind == "multiclass" else task.y[val].astype(int)
        search = replace(task, X=task.X[fit], y=task.y[fit], X_test=task.X[val], y_test=task.y[val],
                                     labels=labels)
        final = {}
    scored = {st: fit_imp(search, m, ss, epochs=st[1], batch_size=batch_size, lr=st[0], layers=layers, rng=rng,
                          device=device) for st in settings}
    best = [max(settings, key=lambda st: scored[st][i]["score"]) for i in range(len(ss))]
    if final is not None:
        final = {st: fit_imp(task, m, ss, epochs=st[1], batch_size=batch_size, lr=st[0], layers=layers, rng=rng,
                          device=device) for st in set(best)}
    runs = scored if final is None else final
    seconds = time.perf_counter() - t0
    return [{**runs[st][i], "lr": st[0], "epochs": st[1], "seconds": seconds} for i, st in enumerate(best)]


def warm_up(task, method, batch_size=None, layers=1, device=None):
    """One tiny fit of ``method`` (``"iht"`` or ``"imp"``) on ``task`` (on ``device``), so that a measured
    fit after it pays no compilation and no libraries' first-use allocations (m = 2, s = 4, one epoch)."""
    if method == "iht":
        fit_iht(task, 2, 4, epochs=1, batch_size=batch_size, layers=layers, device=device)
    else:
        fit_imp(task, 2, [4], epochs=1, batch_size=batch_size, layers=layers, device=device)
