"""Figures (matplotlib, headless-safe)."""

from __future__ import annotations

import numpy as np

from .io import save_figure

__all__ = ["convergence_figure", "grid_heatmap", "phase_diagram", "pyplot"]


def pyplot():
    """``matplotlib.pyplot`` on a file backend (Agg unless one is already chosen): figures are
    written to files, never shown."""
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
    plt = pyplot()
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
        save_figure(fig, path, tight=False)  # laid out above, also for the figure returned
    plt.close(fig)
    return fig


def grid_heatmap(rows, value="psnr", *, x="s", y="m", vmin=-20, vmax=50, path=None, title=None, cmap="viridis",
                 fmt="{:.0f}", label=None, suptitle=None):
    """Heatmap(s) of ``value`` over the (y, x) grid of result rows, seeds averaged.

    Parameters
    ----------
    rows : list of dict
        Results with keys ``x``, ``y`` and ``value`` (e.g. from
        :func:`sparsecert.planted.planted_mlp_grid`).
    value : str or list of str
        Key(s) to plot; several keys give panels side by side on one colour
        scale (e.g. ``["psnr", "imp_psnr"]``). Cells without rows are blank; a key
        that no row holds is a KeyError.
    x, y : str
        Grid keys.
    vmin, vmax : float or list of float
        Colour scale (paper: PSNR -20..50 dB); lists give each panel its own
        scale and colour bar.
    fmt : str, callable or list of them
        Cell labels (``fmt.format(v)`` or ``fmt(v)``).
    label : str or list of str, optional
        Colour-bar labels (default: the value keys).
    suptitle : str, optional
    path : str or Path, optional
        Where to save the PNG.
    title : str or list of str, optional
        One per panel.
    """
    plt = pyplot()
    values = [value] if isinstance(value, str) else list(value)
    P = len(values)
    absent = [v for v in values if not any(v in r for r in rows)]
    if absent:  # a whole panel of nothing: a table without the column, not blank cells
        raise KeyError(", ".join(absent))

    def per_panel(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * P

    titles, fmts = per_panel(title), per_panel(fmt)
    vmins, vmaxs, labels = per_panel(vmin), per_panel(vmax), per_panel(label)
    shared = len(set(vmins)) == 1 and len(set(vmaxs)) == 1
    xs = sorted({r[x] for r in rows})
    ys = sorted({r[y] for r in rows})
    fig, axes = plt.subplots(1, P, figsize=(P * (2.2 + 0.6 * len(xs)), 1.6 + 0.5 * len(ys)), squeeze=False)
    for ax, key, ttl, f, lo, hi, lab in zip(axes[0], values, titles, fmts, vmins, vmaxs, labels):
        grid = np.full((len(ys), len(xs)), np.nan)
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                vals = [min(float(r[key]), hi * 10) for r in rows if r[x] == xv and r[y] == yv and key in r]
                if vals:
                    grid[i, j] = np.mean(vals)
        im = ax.imshow(grid, origin="lower", cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        for i in range(len(ys)):
            for j in range(len(xs)):
                if np.isfinite(grid[i, j]):
                    v = grid[i, j]
                    text = "∞" if key.endswith("psnr") and v >= 100 else (f(v) if callable(f) else f.format(v))
                    ax.text(j, i, text, ha="center", va="center", fontsize=7, color="w")
        if ttl:
            ax.set_title(ttl, fontsize=9)
        if not shared:
            fig.colorbar(im, ax=ax, label=lab or key)
    if shared:
        fig.colorbar(im, ax=list(axes[0]), label=labels[0] or values[0])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1.06)
    if path is not None:
        save_figure(fig, path, tight=False)
    plt.close(fig)
    return fig


def phase_diagram(rows, *, ax=None, title=None, theory=True, c=4.0, path=None, keys=("delta", "rho")):
    """Success-probability heatmap on Donoho-Tanner axes with the fitted 50% curve.

    Parameters
    ----------
    rows : list of dict
        Trials with ``delta``, ``rho`` and ``success`` (e.g. a sweep of
        ``gaussian_recovery``); trials of one (delta, rho) cell are averaged.
    ax : matplotlib Axes, optional
        Draw into it (else a new figure).
    theory : bool
        Overlay the l1 transition (statistical dimension) and ``n = c s ln(N/s)``.
    path : str or Path, optional
        Save the figure (only when ``ax`` is None).
    keys : (str, str)
        Row keys holding delta and rho (e.g. the nominal grid values, when the
        realised n/N and s/n are rounded differently per cell).
    """
    from .phase import fit_transition, l1_transition, sample_complexity_curve

    dk, rk = keys
    rows = [dict(r, delta=r[dk], rho=r[rk]) for r in rows]

    plt = pyplot()
    deltas = sorted({round(r["delta"], 12) for r in rows})
    rhos = sorted({round(r["rho"], 12) for r in rows})
    P = np.full((len(rhos), len(deltas)), np.nan)
    for i, rh in enumerate(rhos):
        for j, de in enumerate(deltas):
            v = [float(r["success"]) for r in rows if round(r["rho"], 12) == rh and round(r["delta"], 12) == de]
            if v:
                P[i, j] = np.mean(v)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
    dl = np.diff(deltas).min() / 2 if len(deltas) > 1 else 0.05
    rl = np.diff(rhos).min() / 2 if len(rhos) > 1 else 0.05
    im = ax.imshow(P, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1,
                   extent=[deltas[0] - dl, deltas[-1] + dl, rhos[0] - rl, rhos[-1] + rl])
    fit = [fit_transition([r["rho"] for r in rows if round(r["delta"], 12) == de],
                          [float(r["success"]) for r in rows if round(r["delta"], 12) == de]) for de in deltas]
    ax.plot(deltas, fit, "o-", color="cyan", ms=3, lw=1.2, label="empirical 50% (logistic fit)")
    if theory:
        grid = np.linspace(max(0.02, deltas[0] - dl), min(0.98, deltas[-1] + dl), 60)
        ax.plot(grid, l1_transition(grid), "w--", lw=1.2, label="l1 transition (stat. dimension)")
        ax.plot(grid, sample_complexity_curve(grid, c), ":", color="lime", lw=1.2, label=f"n = {c:g} s ln(N/s)")
    ax.set_xlim(deltas[0] - dl, deltas[-1] + dl)
    ax.set_ylim(rhos[0] - rl, rhos[-1] + rl)
    ax.set_xlabel(r"$\delta = n/N$")
    ax.set_ylabel(r"$\rho = s/n$")
    if title:
        ax.set_title(title, fontsize=9)
    if own:
        fig.colorbar(im, ax=ax, label="P(success)")
        ax.legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path, tight=False)  # laid out above
        plt.close(fig)
    return im
