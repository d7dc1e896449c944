"""Figures (matplotlib, headless-safe)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable

import numpy as np

from .io import save_figure
from .validation import warn_deprecated

__all__ = ["EXACT_DB", "Panel", "convergence_figure", "grid_heatmap", "phase_diagram", "pyplot"]


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


EXACT_DB = 100.0
"""PSNR (dB) from which a heatmap cell reads as an exact fit ("∞"): a relative error of 1e-5 of
the peak, far above what any inexact fit here reaches (< 60 dB) and far below float64's ~300 dB."""


def _is_psnr(key):
    return key.endswith("psnr")


def _label(key):
    """A colour bar's default label: the key, in words for PSNR."""
    return "PSNR (dB)" if _is_psnr(key) else key


def _ink(rgba):
    """Black or white, whichever reads on the colour ``rgba`` (its relative luminance)."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
    return "k" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18 else "w"


def _colorbar(fig, im, ax, label, saturated, exact):
    """The colour bar; where cells pass the top of the scale, an arrow for them, and where some
    cell is exact (``exact`` given), a label that says what ∞ marks."""
    if exact is not None:
        label += f"\n(∞: exact fit, ≥ {exact:g})"
    fig.colorbar(im, ax=ax, label=label, extend="max" if saturated else "neither")


@dataclass(frozen=True)
class Panel:
    """One panel of :func:`grid_heatmap`: the row key it draws and how.

    Parameters
    ----------
    key : str
        The row key drawn (seeds averaged); a key that no row holds is a KeyError.
    title : str, optional
    vmin, vmax : float
        Colour scale (paper: PSNR -20..50 dB). Panels with one scale share one colour bar.
    fmt : str or callable
        Cell labels (``fmt.format(v)`` or ``fmt(v)``).
    label : str, optional
        Colour-bar label (default: the key; "PSNR (dB)" for PSNR keys).
    exact : "psnr", float or None
        Value from which a cell reads as an exact fit: drawn "∞" in bold, and the colour bar says
        so. ``"psnr"`` (default): :data:`EXACT_DB` for keys ending in ``psnr``, none for the others.
        Cells above ``vmax`` keep the top colour and print their value (the colour bar gets an arrow).
    """

    key: str = "psnr"
    title: str | None = None
    vmin: float = -20
    vmax: float = 50
    fmt: str | Callable = "{:.0f}"
    label: str | None = None
    exact: str | float | None = "psnr"

    def __post_init__(self) -> None:
        if not float(self.vmin) < float(self.vmax):
            raise ValueError(f"vmin must be below vmax, got {self.vmin} and {self.vmax}")

    @property
    def exact_from(self) -> float | None:
        """The value from which a cell is drawn exact (``exact`` resolved), or None."""
        if self.exact == "psnr":
            return EXACT_DB if _is_psnr(self.key) else None
        return None if self.exact is None else float(self.exact)


def grid_heatmap(rows, value="psnr", *, x="s", y="m", path=None, suptitle=None, cmap="viridis", **legacy):
    """Heatmap(s) over the (y, x) grid of result rows, seeds averaged, one panel per value.

    Parameters
    ----------
    rows : list of dict
        Results with keys ``x``, ``y`` and the panels' keys (e.g. from
        :func:`sparsecert.planted.planted_mlp_grid`).
    value : str, Panel or list of them
        The panels, side by side (e.g. ``["psnr", "imp_psnr"]``, or ``Panel("psnr", title=...)``);
        cells without rows are blank, cells whose rows all hold NaN read "n/a" (NaN values are left
        out of a cell's mean).
    x, y : str
        Grid keys.
    path : str or Path, optional
        Where to save the PNG.
    suptitle : str, optional
    cmap : str
        Matplotlib colour map.
    **legacy
        0.4's per-panel keywords (``vmin``, ``vmax``, ``title``, ``fmt``, ``label``, ``exact``: one
        value, or a list of one per panel), folded into the panels with a FutureWarning until 0.6.
    """
    plt = pyplot()
    panels = [v if isinstance(v, Panel) else Panel(v) for v in ([value] if isinstance(value, (str, Panel)) else value)]
    if legacy:
        panels = _legacy_panels(panels, legacy)
    absent = [p.key for p in panels if not any(p.key in r for r in rows)]
    if absent:  # a whole panel of nothing: a table without the column, not blank cells
        raise KeyError(", ".join(absent))
    P = len(panels)
    shared = len({(p.vmin, p.vmax) for p in panels}) == 1
    xs = sorted({r[x] for r in rows})
    ys = sorted({r[y] for r in rows})
    fig, axes = plt.subplots(1, P, figsize=(P * (2.6 + 0.6 * len(xs)), 1.8 + 0.5 * len(ys)), squeeze=False,
                             layout="constrained")
    colours = plt.get_cmap(cmap)
    over = []
    for ax, panel in zip(axes[0], panels):
        key, ttl, f, lo, hi, lab, top = (panel.key, panel.title, panel.fmt, panel.vmin, panel.vmax, panel.label,
                                          panel.exact_from)
        grid = np.full((len(ys), len(xs)), np.nan)
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                present = [float(r[key]) for r in rows if r[x] == xv and r[y] == yv and key in r]
                vals = [min(v, hi * 10) for v in present if not np.isnan(v)]  # NaN: undefined, not averaged in
                if vals:
                    grid[i, j] = np.mean(vals)
                elif present:  # rows, every one NaN
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="0.45")
        im = ax.imshow(grid, origin="lower", cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        for i, j in zip(*np.nonzero(np.isfinite(grid))):
            v = grid[i, j]
            exact = top is not None and v >= top
            text = "∞" if exact else (f(v) if callable(f) else f.format(v))
            ax.text(j, i, text, ha="center", va="center", fontsize=11 if exact else 8,
                    fontweight="bold" if exact else "normal", color=_ink(colours((v - lo) / (hi - lo))))
        if ttl:
            ax.set_title(ttl, fontsize=9)
        peak = np.nanmax(grid, initial=-np.inf)
        over.append((peak > hi, top if top is not None and peak >= top else None))
        if not shared:
            _colorbar(fig, im, ax, lab or _label(key), *over[-1])
    if shared:
        tops = {t for _, t in over if t is not None}
        _colorbar(fig, im, list(axes[0]), panels[0].label or _label(panels[0].key), any(o for o, _ in over),
                  min(tops, default=None))
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if path is not None:
        save_figure(fig, path, tight=False)
    plt.close(fig)
    return fig


def _legacy_panels(panels, legacy):
    """:func:`grid_heatmap`'s 0.4 keywords (a value or one per panel) folded into ``panels``."""
    unknown = set(legacy) - ({f.name for f in fields(Panel)} - {"key"})
    if unknown:
        raise TypeError(f"grid_heatmap() got an unexpected keyword argument {unknown.pop()!r}")
    warn_deprecated(f"sparsecert.plot.grid_heatmap({', '.join(f'{k}=...' for k in legacy)})",
                    "grid_heatmap(rows, [Panel(key, title=..., vmin=..., ...), ...])", stacklevel=4)
    return [replace(p, **{k: v[i] if isinstance(v, (list, tuple)) else v for k, v in legacy.items()})
            for i, p in enumerate(panels)]


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
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path, tight=False)  # laid out above
        plt.close(fig)
    return im
