"""Figures (matplotlib, headless-safe)."""

from __future__ import annotations

import numpy as np

__all__ = ["convergence_figure"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def convergence_figure(panels, path=None, *, title=None):
    """Relative residual against iteration, one panel per problem.

    Parameters
    ----------
    panels : dict
        ``{panel title: {method name: RecoveryResult}}``.
    path : str or Path, optional
        Where to save the PNG; the figure is returned either way.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (name, results) in zip(axes[0], panels.items()):
        for method, res in results.items():
            resid = np.maximum(res.residuals, 1e-17)
            ax.semilogy(np.arange(resid.size), resid, marker=".", ms=3, label=f"{method} ({res.time:.2f} s)")
        ax.set_xlabel("iteration")
        ax.set_ylabel(r"$\|y - Aw\|_2 / \|y\|_2$")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig
