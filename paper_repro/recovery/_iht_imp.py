"""IHT against the IMP baseline over an (m, s) grid on one :class:`~paper_repro.recovery.tasks.Task` (shared by
:mod:`.classify` and :mod:`.inr`)."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import time
from collections import Counter

import numpy as np
from sparsecert.plot import EXACT_DB, Panel, grid_heatmap, pyplot
from sparsecert.progress import progress_bar
from sparsecert.working_set import measured_bytes_on
from .tasks import fit_iht, fit_imp, fit_imp_tuned, warm_up
from ..tables import ahead, mean_sd


def grid_rows(task, cfg, seeds, progress=None, store=None, device=None):
    """One row per (m, s, seed): IHT and (with torch) IMP scores, memory and seconds.

    Memory is measured one way for both methods (:func:`sparsecert.working_set.measured_bytes`: the
    growth of the resident set at the fit's peak over what the data already held, after a warm-up
    fit of each method in this process): ``iht_bytes`` and ``imp_bytes`` (IMP's for the one run
    that every ``s`` of a width is read from); the former figures' numbers stay beside them as
    cross-checks: ``iht_est_bytes`` (the solver's own estimate plus the returned network's arrays),
    broken down by part in ``iht_<part>_bytes`` (the scalar fit's ``pass``, ``cache``, ``restricted``,
    ``vectors``; the factored fit's ``dense``, ``residual``, ``tiles``, ``batch``, ``candidates``; both
    ``net``: see :func:`.tasks.fit_iht`), and ``imp_formula_bytes`` (24 bytes a weight plus a batch of
    activations); until 0.4.15 ``iht_est_bytes`` counted 16 bytes a kept weight for the network. Every
    IHT fit of the grid runs before the first torch run of the process: after one, the resident set of an IHT fit grows
    by 1-3 MB more than IHT allocates (``scripts/inr_memory_breakdown.py``), the process's state and
    not the fit's.

    ``cfg``: ``ms``, ``ss``, ``epochs`` (IHT iterations / epochs),
    ``imp_epochs`` (per round), ``batch_size`` (IHT minibatch, None = full
    batch), ``minibatch`` (10 classes: IHT's steps on the minibatches, see :func:`.tasks.fit_iht`;
    default False), ``layers`` (hidden layers of width m, both methods; default 1),
    ``imp_batch_size`` and ``imp_ms`` (the widths IMP runs at; default every one); ``imp_tuned_ms``: the widths the tuned IMP (:func:`.tasks.fit_imp_tuned`) runs at
    too (default none; columns ``imp_tuned``, ``imp_tuned_lr``, ``imp_tuned_epochs``,
    ``imp_tuned_seconds``). ``store``: a sweep store (path) that keeps each IHT fit (m, s, seed)
    and each IMP run (m, seed) as it finishes, so that an interrupted run resumes where it stopped (cells
    are keyed by the task, the grid's settings and the package version; the tuned IMP's apart, so that
    adding its widths computes only them; IHT's without ``ss``, so that adding a budget fits only it).
    ``device`` (a torch device, e.g. ``"cuda"``): both methods run there (IHT on the torch backend),
    their memory measured there alike (:func:`sparsecert.working_set.measured_bytes_on`: on a GPU the
    growth of torch's allocated device memory, each method's copy of the data on the device included:
    both make one), and the cells are stored apart from the CPU's.
    """
    return grids([(task, cfg, seeds)], progress, store, device)[0]


def grids(jobs, progress=None, store=None, device=None):
    """:func:`grid_rows` of each ``(task, cfg, seeds)`` of ``jobs`` (on ``device``): every job's IHT fits
    first, then the IMP runs, then the tuned IMP's, so that no IHT fit is measured after a torch run."""
    from sparsecert.store import SweepStore

    has_torch = importlib.util.find_spec("torch") is not None
    plans = []
    for task, cfg, seeds in jobs:
        cfg = cfg if device is None else {**cfg, "device": device}  # its own cells in the store
        cells = [(m, seed) for m in cfg["ms"] for seed in seeds]
        imp_ms = set(cfg.get("imp_ms", cfg["ms"])) if has_torch else set()
        tuned_ms = set(cfg.get("imp_tuned_ms", ())) if has_torch else set()
        plans.append((task, cfg, cells, [c for c in cells if c[0] in imp_ms], [c for c in cells if c[0] in tuned_ms]))
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(SweepStore(store)) if store is not None else None
        total = sum(len(c) * len(cfg["ss"]) + len(i) + len(t) for _, cfg, c, i, t in plans)
        bar = stack.enter_context(progress_bar(total, ", ".join(p[0].name for p in plans), progress, leave=False))
        stored = [_Stored(db, task.name, cfg) for task, cfg, *_ in plans]
        iht = [st.each("iht", [(m, s, seed) for m, seed in cells for s in cfg["ss"]],
                       lambda m, s, seed, task=task, cfg=cfg: [_iht_row(task, cfg, m, s, seed)],
                       lambda task=task, cfg=cfg: warm_up(task, "iht", cfg.get("batch_size"), cfg.get("layers", 1),
                                                          cfg.get("device")), bar)
               for st, (task, cfg, cells, _, _) in zip(stored, plans)]
        imp = [st.each("imp", imp_cells, lambda m, seed, task=task, cfg=cfg: _imp_rows(task, cfg, m, seed),
                       lambda task=task, cfg=cfg: warm_up(task, "imp", cfg.get("imp_batch_size"), cfg.get("layers", 1),
                                                          cfg.get("device")), bar)
               for st, (task, cfg, _, imp_cells, _) in zip(stored, plans)]
        tuned = [st.each("tuned", tuned_cells, lambda m, seed, task=task, cfg=cfg: _tuned_rows(task, cfg, m, seed), None,
                         bar) for st, (task, cfg, _, _, tuned_cells) in zip(stored, plans)]
    return [[row for m, seed in cells
             for row in _joined_cell([a[(m, s, seed)][0] for s in cfg["ss"]], b.get((m, seed)), t.get((m, seed)))]
            for (_, cfg, cells, _, _), a, b, t in zip(plans, iht, imp, tuned)]


class _Stored:
    """Each method's rows per cell of one grid, from the sweep store where it holds them (keyed by the
    task, the grid's settings and the package version), else computed (and stored as each finishes):
    IHT's cells are single fits, ``(m, s, seed)``, so that an interrupt loses at most the fit in progress
    and a budget added to ``ss`` computes only its fits; IMP's are ``(m, seed)``, one run read at every s."""

    def __init__(self, db, task_name, cfg):
        from sparsecert.store import canonical

        self.db, self.task_name, self.canonical = db, task_name, canonical
        self.settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()
                         if k not in ("ms", "imp_ms", "imp_tuned_ms", "seeds")}
        self.fit_settings = {k: v for k, v in self.settings.items() if k != "ss"}  # a single fit's: its s alone

    def each(self, method, cells, compute, warm, bar):
        """``{cell: rows}`` of ``method`` on ``cells``, tuples ``(m, seed)`` or ``(m, s, seed)`` (one fit per
        s: the key holds that s and not the grid's ``ss``), each ``compute(*cell)`` unless stored;
        ``warm()`` before the first computed."""
        name = f"{method}:{self.task_name}"
        done = {} if self.db is None else {(p, s): r["rows"] for p, s, r in self.db.cells(name)}
        out = {}
        for cell in cells:
            *at, seed = cell
            settings = self.settings if len(at) == 1 else self.fit_settings
            key = self.canonical({**settings, **dict(zip(("m", "s"), at)), "bytes": "measured"})
            if (key, seed) not in done:
                if warm is not None:  # compilation and first-use allocations are not a cell's
                    warm()
                    warm = None
                t0 = time.perf_counter()
                done[(key, seed)] = compute(*cell)
                if self.db is not None:
                    self.db.put(name, key, seed, {"rows": done[(key, seed)]}, time.perf_counter() - t0)
            out[cell] = done[(key, seed)]
            bar.update(1)
        return out


def _iht_row(task, cfg, m, s, seed):
    """One IHT fit at width ``m`` and budget ``s``, its memory measured."""
    device = cfg.get("device")
    a, peak = measured_bytes_on(device, fit_iht, task, m, s, epochs=cfg["epochs"], batch_size=cfg.get("batch_size"),
                                minibatch=cfg.get("minibatch", False), layers=cfg.get("layers", 1), rng=seed,
                                device=device)
    return {"task": task.name, "metric": task.metric, "m": m, "s": s, "seed": seed, "iht": a["score"],
            "iht_nnz": a["nnz"], "iht_bytes": peak, "iht_est_bytes": a["bytes"], "iht_seconds": a["seconds"],
            **{f"iht_{part}_bytes": v for part, v in a["memory_parts"].items()},
            **({"device": device} if device else {})}


def _imp_rows(task, cfg, m, seed):
    """One IMP run at width ``m``, read at every s, its memory measured."""
    device = cfg.get("device")
    imp, peak = measured_bytes_on(device, fit_imp, task, m, cfg["ss"], epochs=cfg["imp_epochs"],
                                  batch_size=cfg.get("imp_batch_size"), layers=cfg.get("layers", 1), rng=seed,
                                  device=device)
    return [{"imp": b["score"], "imp_kept": b["kept"], "imp_round": b["round"], "imp_bytes": peak,
             "imp_formula_bytes": b["bytes"], "imp_seconds": b["seconds"]} for b in imp]


def _tuned_rows(task, cfg, m, seed):
    """The tuned IMP (:func:`.tasks.fit_imp_tuned`) at width ``m``, read at every s."""
    return [{"imp_tuned": r["score"], "imp_tuned_lr": r["lr"], "imp_tuned_epochs": r["epochs"],
             "imp_tuned_seconds": r["seconds"]}
            for r in fit_imp_tuned(task, m, cfg["ss"], epochs=cfg["imp_epochs"], batch_size=cfg.get("imp_batch_size"),
                                   layers=cfg.get("layers", 1), rng=seed, device=cfg.get("device"))]


def _joined_cell(iht, imp, tuned):
    """One width and seed's rows: IHT's, with IMP's and the tuned IMP's where they ran, and the memory
    ratio (:func:`_with_ratio`)."""
    return [_with_ratio({**a, **(imp[k] if imp else {}), **(tuned[k] if tuned else {})}) for k, a in enumerate(iht)]


def _with_ratio(row):
    """``row`` with ``log10_mem_ratio`` where IMP ran and both measured peaks reach
    :data:`MEMORY_RESOLUTION` (else without it: blank)."""
    row = dict(row)  # a ratio already there keeps its place among the columns
    if row.get("imp_bytes") is not None and min(row["imp_bytes"], row["iht_bytes"]) >= MEMORY_RESOLUTION:
        row["log10_mem_ratio"] = float(np.log10(row["imp_bytes"] / row["iht_bytes"]))
    elif "log10_mem_ratio" in row:  # (a row read back from a CSV: blank)
        row["log10_mem_ratio"] = None
    return row


def refit_iht(rows, jobs, progress=None):
    """``rows`` of a grid (each naming its ``figure``) with IHT's columns computed again by this version
    and IMP's kept: the way to bring a figure up to a change of IHT alone without its hours of IMP.

    ``jobs``: ``(figure key, task, grid, seeds)`` as the figure's ``jobs`` gives them; every
    (figure, m, s, seed) with a row is fitted again, measured as :func:`grids`
    measures (a warm-up fit per task first, no torch run in the process). Returns the new rows, in
    the order of ``rows``."""
    out = [dict(r) for r in rows]
    at = {(r["figure"], r["m"], r["s"], r["seed"]): i for i, r in enumerate(out)}
    todo = [(key, task, grid, sorted({(r["m"], r["s"], r["seed"]) for r in out if r["figure"] == key}))
            for key, task, grid, _ in jobs]
    with progress_bar(sum(len(c) for *_, c in todo), "IHT refitted", progress, leave=False) as bar:
        for key, task, grid, cells in todo:
            if cells:
                warm_up(task, "iht", grid.get("batch_size"), grid.get("layers", 1))
            for m, s, seed in cells:
                a, i = _iht_row(task, grid, m, s, seed), at[(key, m, s, seed)]
                out[i] = _with_ratio({**out[i], **{k: v for k, v in a.items() if k.startswith("iht")}})
                bar.update(1)
    return out


def sweep_grid_rows(rows, figure, task):
    """Rows of a planted-net sweep measured one way (``psnr``, ``rss_bytes``, ``peak_memory`` with its
    parts ``iht_<part>_bytes`` and, where IMP ran, ``imp_psnr``, ``imp_rss_bytes``) in this module's form
    (``iht``/``imp`` the PSNRs, ``iht_bytes``/``imp_bytes`` the measured peaks, ``iht_est_bytes`` the
    solver's estimate), so that Figs. 1-2 are drawn and summarised as Figs. 3-5 are."""
    out = []
    for r in rows:
        row = {"figure": figure, "task": task, "metric": "PSNR", "m": r["m"], "s": r["s"], "seed": r["seed"],
               "iht": r["psnr"], "iht_bytes": r["rss_bytes"], "iht_est_bytes": r["peak_memory"],
               **{k: v for k, v in r.items() if k.startswith("iht_") and k.endswith("_bytes")}}
        if r.get("imp_psnr") not in (None, ""):
            row.update(imp=r["imp_psnr"], imp_bytes=r["imp_rss_bytes"],
                       log10_mem_ratio=float(np.log10(max(r["imp_rss_bytes"], 1) / max(r["rss_bytes"], 1))))
        out.append(row)
    return out


def by_figure(rows, keys):
    """``(key, rows of that figure)`` for each figure key (in order) that has rows; cells left empty
    (no IMP without torch) are dropped from each row. Rows written before they named their figure
    are refused with the way out."""
    if rows and "figure" not in rows[0]:
        raise ValueError("the CSV was written before its rows named their figure: run the figure again")
    rows = [{k: v for k, v in r.items() if v is not None} for r in rows]
    for key in keys:
        sel = [r for r in rows if r["figure"] == key]
        if sel:
            yield key, sel


#: Smallest measured peak a memory ratio is drawn from: below it the resident set's growth is within
#: the instrument's resolution (pages, allocator reuse; the bundled digits' fits measure 0 to 2 MB,
#: some 0), and the cell is left blank.
MEMORY_RESOLUTION = 1 << 20


def _shown_ratio(r):
    """The row's log10 memory ratio as drawn: measured peaks both above :data:`MEMORY_RESOLUTION`."""
    if "iht_est_bytes" in r and min(r.get("iht_bytes", 0), r.get("imp_bytes", 0)) < MEMORY_RESOLUTION:
        return {}
    return {"log10_mem_ratio": r["log10_mem_ratio"]} if "log10_mem_ratio" in r else {}


def heatmaps(rows, *, lo, hi, percent, note=""):
    """IHT | IMP | memory ratio heatmaps of one task's rows (seeds averaged; the ratio only where
    both measured peaks reach :data:`MEMORY_RESOLUTION`)."""
    scale = 100.0 if percent else 1.0
    shown = [{**{k: v for k, v in r.items() if k != "log10_mem_ratio"}, **_shown_ratio(r), "iht": scale * r["iht"],
              **{k: scale * r[k] for k in ("imp", "imp_tuned") if k in r}} for r in rows]
    unit = "%" if percent else "dB"
    exact = None if percent else EXACT_DB  # (exact fits: images only; the memory panel never)
    panels = []

    def panel(key, title, vmin=lo, vmax=hi, fmt="{:.0f}", label=unit):
        panels.append(Panel(key, title, vmin, vmax, fmt, label, None if key == "log10_mem_ratio" else exact))

    method = "factored, cross-entropy" if rows[0].get("kind") == "multiclass" else "sequential-convex AIHT"
    panel("iht", f"IHT ({method})\n{rows[0]['metric']} ({unit})")
    if any("imp" in r for r in rows):  # IMP may have run on some widths only (cells without it are blank)
        panel("imp", f"IMP (Adam 1e-3, 10%/round global, rewind)\n{rows[0]['metric']} ({unit})")
        if any("log10_mem_ratio" in r for r in shown):
            panel("log10_mem_ratio", "measured peak memory: IMP / IHT\n(>1: IHT uses less; blank: a peak under 1 MiB)"
                  if "iht_est_bytes" in rows[0] else
                  "memory, 0.4.0's estimates: IMP's formula /\nIHT's estimate (not measured; rerun to measure)",
                  -2.0, 3.0, lambda v: f"{10 ** v:.2g}x", "log10 ratio")
    if any("imp_tuned" in r for r in rows):  # the baseline nobody can call unfair, at the widths it ran
        panel("imp_tuned", f"IMP tuned (lr, epochs/round chosen\non a validation split), {rows[0]['metric']} ({unit})")
    return grid_heatmap(shown, panels, suptitle=f"{rows[0]['task']}{note}")


def spread(rows, tol):
    """Per (figure, m, s): each method's mean and standard deviation over the seeds
    (:func:`paper_repro.tables.mean_sd`: ``iht_mean``, ``iht_sd``, ``iht_n``, ``iht_exact``, the same
    for ``imp``) and, where both ran, ``ahead``: ``"iht"``, ``"imp"`` or ``"neither"`` by
    :func:`paper_repro.tables.ahead` (by more than the two sds together and more than ``tol``); with
    the tuned IMP, ``imp_tuned_*`` and ``ahead_tuned`` the same against it."""
    tuned = any("imp_tuned" in r for r in rows)
    stats = mean_sd(rows, ("figure", "task", "metric", "m", "s"), ("iht", "imp") + (("imp_tuned",) if tuned else ()))
    for r in stats:
        for k, col in (("imp", "ahead"), ("imp_tuned", "ahead_tuned")):
            if r.get(f"{k}_n"):
                r[col] = ahead(r, "iht", k, tol) or "neither"
    return stats


def no_signal_note(rows, key="psnr", sep="; "):
    """The figure's note on cells read "n/a" (:func:`sparsecert.plot.grid_heatmap`), led by ``sep``: where a
    planted net's output is zero its PSNR is undefined (NaN, :func:`sparsecert.metrics.psnr`); "" if none is."""
    if any(isinstance(r.get(key), float) and math.isnan(r[key]) for r in rows):
        return sep + "a seed whose planted net outputs zero (nothing to recover) is left out, n/a where every one is"
    return ""


def seed_count(rows):
    """The figure's count of seeds, from its rows: "3 seed(s)", or "1-3 seeds a cell" where cells differ (a width
    run on fewer seeds than the others)."""
    per_cell = Counter((r.get("figure"), r["m"], r["s"]) for r in rows)
    lo, hi = min(per_cell.values()), max(per_cell.values())
    return f"{hi} seed(s)" if lo == hi else f"{lo}-{hi} seeds a cell"


def task_figures(prefix, key, rows, spread_rows, *, lo, hi, percent, note):
    """One task's figures: the heatmaps ``<prefix>_<key>`` (:func:`heatmaps`) and, with several
    seeds, their spread ``<prefix>_<key>_seeds`` (:func:`errorbars` of its rows of :func:`spread`)."""
    figures = {f"{prefix}_{key}": heatmaps(rows, lo=lo, hi=hi, percent=percent, note=note)}
    summary = [x for x in spread_rows if x["figure"] == key]
    if max(x["iht_n"] for x in summary) > 1:
        figures[f"{prefix}_{key}_seeds"] = errorbars(summary, percent=percent, title=f"{rows[0]['task']}{note}")
    return figures


def errorbars(summary, *, percent, title):
    """Score against s, mean ± sd over the seeds (``summary``: :func:`spread`): IHT solid, IMP dashed,
    one colour per width (the widths IMP ran at, else up to four), with the count of cells each
    method leads beyond the seeds' spread."""
    plt = pyplot()
    scale = 100.0 if percent else 1.0
    with_imp = sorted({r["m"] for r in summary if r["imp_n"]})
    ms = sorted({r["m"] for r in summary})
    shown = with_imp or [ms[round(i)] for i in np.linspace(0, len(ms) - 1, min(4, len(ms)))]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(shown)))
    for m, colour in zip(shown, colours):
        for k, style in (("iht", "-"), ("imp", "--"), ("imp_tuned", ":")):
            pts = sorted((r["s"], r[f"{k}_mean"], r[f"{k}_sd"]) for r in summary if r["m"] == m and r.get(f"{k}_n"))
            pts = [p for p in pts if np.isfinite(p[1])]  # not run (NaN), exact on every seed (inf): not drawn
            if pts:
                s_, mean, sd = (np.array(v, float) for v in zip(*pts))
                ax.errorbar(s_, scale * mean, yerr=scale * np.nan_to_num(sd), ls=style, color=colour, marker="o",
                            ms=3, capsize=2, label=f"{k.upper().replace('_', ' ')} m={m}")
    ax.set_xscale("log")
    ax.set_xlabel("s (nonzero weights)")
    ax.set_ylabel(f"{summary[0]['metric']} ({'%' if percent else 'dB'}), mean ± sd")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    both = [r for r in summary if "ahead" in r]
    counts = {k: sum(r["ahead"] == k for r in both) for k in ("iht", "imp", "neither")}
    lines = [f"of {len(both)} cells with both, ahead beyond the seeds' spread: IHT in {counts['iht']}, "
             f"IMP in {counts['imp']}, neither in {counts['neither']}"]
    tuned = [r for r in summary if "ahead_tuned" in r]
    if tuned:
        c = {k: sum(r["ahead_tuned"] == k for r in tuned) for k in ("iht", "imp_tuned", "neither")}
        lines.append(f"against the tuned IMP ({len(tuned)} cells): IHT in {c['iht']}, tuned IMP in {c['imp_tuned']}, "
                     f"neither in {c['neither']}")
    ax.set_title("\n".join([title, *lines]), fontsize=8)
    return fig
