"""The memory claim measured one way for both methods: IHT's and IMP's peak allocations during a fit,
each in a fresh process after a warm-up fit, by :func:`sparsecert.working_set.measure_peak` (growth of
the resident set over what X and y hold; tracemalloc as a cross-check), with the formulas the figures
used before kept beside them, and the breakdown of IHT's working set by the solver's own estimate.

    python -m paper_repro.recovery.memory --task fashion-mnist --classes 0 1 --m 100 1000 --s 200 \\
        --epochs 15 --batch 1000 [--imp] [--out FILE.csv]

One row per (method, m): ``rss_bytes`` (measured), ``traced_bytes`` (NumPy's, cross-check),
``reported_bytes`` (what the classify and INR figures report: IHT's estimate plus 16 bytes a weight;
IMP's formula, 24 bytes a weight plus one batch of activations), ``seconds``, the score, and for IHT
the estimate's parts (``pass_bytes``: one streaming pass; ``cache_bytes``: the kept masks;
``restricted_bytes``: the restricted operators of 2s and s columns; ``iterate_bytes``). Ten classes
(``--classes 0 1 2 3 4 5 6 7 8 9 --minibatch --batch 5000``: Fig. 3's 10-class schedule) give the factored
fit's parts instead (:func:`_iht_parts`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys

from sparsecert.io import write_csv
from sparsecert.working_set import MALLOC_ENV, measure_peak

from .tasks import class_task, fit_iht, fit_imp, iht_block, imp_bytes, warm_up


def _iht_parts(task, m, s, block, batch=None, minibatch=False):
    """IHT's working set by the solver's own estimate, part by part (bytes). One-hot targets: the
    factored fit's :meth:`~sparsecert.recovery.factored.FactoredIHTSolver.memory_parts` (steps on
    batches of ``batch`` rows with ``minibatch``); scalar targets: the ReLU operator's pass, mask
    cache and restricted operators, and the iterate."""
    from sparsecert.recovery.factored import FactoredIHTSolver
    from sparsecert.relu import relu_operator

    if task.kind == "multiclass":
        solver = FactoredIHTSolver(task.X, task.y, m, min(s, m * (task.X.shape[1] + task.y.shape[1])), block=block,
                                   loss="cross-entropy")
        return {f"{k}_bytes": v for k, v in solver.memory_parts(batch if minibatch else None).items()}
    A = relu_operator(task.X, m, block=block, rng=0)
    k = min(2 * s, A.shape[1])
    return {"pass_bytes": int(A.pass_nbytes), "cache_bytes": int(A.cache_nbytes_bound(s)),
            "restricted_bytes": int(A.restricted_nbytes(k) + A.restricted_nbytes(s)), "iterate_bytes": 16 * s}


def _child(method, spec, queue):
    """One measurement in this (fresh) process: the data, a warm-up fit, then the measured fit."""
    try:
        minibatch = spec.get("minibatch", False)
        task = class_task(spec["task"], spec["classes"], per_class=spec["per_class"], sample_major=minibatch)
        m, s, epochs, batch = spec["m"], spec["s"], spec["epochs"], spec["batch"]
        warm_up(task, method, batch)  # compilation and first use, not counted
        if method == "iht":
            out, measured = measure_peak(fit_iht, task, m, s, epochs=epochs, batch_size=batch, minibatch=minibatch,
                                         rng=spec["seed"])
            parts = _iht_parts(task, m, s, iht_block(task.X.shape[1]), batch, minibatch)
            row = {"score": out["score"], "reported_bytes": out["bytes"], **parts}
        else:
            out, measured = measure_peak(fit_imp, task, m, [s], epochs=epochs, batch_size=batch, rng=spec["seed"])
            k = 1 if task.kind != "multiclass" else task.y.shape[1]
            row = {"score": out[0]["score"], "reported_bytes": imp_bytes(m * (task.X.shape[1] + k),
                                                                         min(batch or len(task.X), len(task.X)), (m, k)),
                   "rounds": out[0]["round"]}
        queue.put({"method": method, **{k: spec[k] for k in ("m", "s", "epochs", "batch", "seed")},
                   "n": int(task.X.shape[0]), "d": int(task.X.shape[1]), "data_bytes": int(task.X.nbytes + task.y.nbytes),
                   **measured, **row})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put({"method": method, "error": f"{type(exc).__name__}: {exc}"})


def measure(method, spec):
    """Measure one fit in a fresh spawned process started with :data:`MALLOC_ENV`; returns its row."""
    ctx = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in MALLOC_ENV}
    os.environ.update(MALLOC_ENV)  # the child inherits the environment it starts with
    try:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(method, spec, queue))
        proc.start()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    row = queue.get()
    proc.join()
    if "error" in row:
        raise RuntimeError(f"{method} at m = {spec['m']}: {row['error']}")
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paper_repro.recovery.memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="fashion-mnist", help="a dataset of sparsecert.data (default fashion-mnist)")
    ap.add_argument("--classes", type=int, nargs="+", default=[0, 1],
                    help="two classes: binary (default 0 1); more: one-hot targets (0 1 ... 9: Fig. 3's 10 classes)")
    ap.add_argument("--per-class", type=int, default=None, help="training images per class (default: all)")
    ap.add_argument("--m", type=int, nargs="+", default=[100, 1000], help="hidden widths")
    ap.add_argument("--s", type=int, default=200, help="nonzero weights")
    ap.add_argument("--epochs", type=int, default=15, help="IHT epochs and IMP epochs per round")
    ap.add_argument("--batch", type=int, default=1000, help="minibatch size of both")
    ap.add_argument("--minibatch", action="store_true",
                    help="one-hot targets: IHT's steps on the minibatches themselves (fmnist10's schedule)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--imp", action="store_true", help="also measure the IMP baseline (needs torch; slow)")
    ap.add_argument("--out", default=None, help="CSV of the rows")
    args = ap.parse_args(argv)
    rows = []
    for m in args.m:
        spec = {"task": args.task, "classes": args.classes, "per_class": args.per_class, "m": m, "s": args.s,
                "epochs": args.epochs, "batch": args.batch, "seed": args.seed, "minibatch": args.minibatch}
        for method in ("iht", "imp") if args.imp else ("iht",):
            rows.append(measure(method, spec))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
