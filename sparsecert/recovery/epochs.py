"""The epoch loop the minibatch solvers share: one step per shuffled batch of samples."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..parallel import single_threaded_blas
from ..validation import progress_enabled

__all__ = ["run_epochs"]


def run_epochs(solver, epochs, batch_size, *, desc, progress=None, callback=None, after_step=None):
    """``epochs`` passes over ``solver``'s ``solver.shape[0]`` samples, shuffled by ``solver.rng`` every
    epoch, in batches of ``batch_size`` rows (each batch's rows in order): ``solver.use_rows(rows)``,
    one ``solver.step()`` (and ``after_step()``), recorded in ``n_iter`` and ``steps``; after each epoch
    ``solver.use_rows(None)`` and ``solver.epoch_residual()`` (the relative residual on every sample)
    appended to ``residuals``, then ``callback(n_iter, w, residual)``. Status ``"epochs"``, or
    ``"diverged"`` (and the run stops) when that residual is not finite. Returns ``solver``."""
    n = solver.shape[0]
    bar = tqdm(total=epochs * -(-n // batch_size), desc=desc, disable=not progress_enabled(progress), leave=False)
    solver.status = "epochs"
    with bar, np.errstate(over="ignore", invalid="ignore"), single_threaded_blas():
        for _ in range(epochs):
            order = solver.rng.permutation(n)
            for b0 in range(0, n, batch_size):
                solver.use_rows(np.sort(order[b0 : b0 + batch_size]))
                mu, _, _ = solver.step()
                solver.n_iter += 1
                solver.steps.append(mu)
                if after_step is not None:
                    after_step()
                bar.update(1)
            solver.use_rows(None)
            solver.residuals.append(solver.epoch_residual())
            if callback is not None:
                callback(solver.n_iter, solver.w, solver.residuals[-1])
            if not np.isfinite(solver.residuals[-1]):
                solver.status = "diverged"
                break
    return solver
