"""The one runner of every figure: pick the configuration, compute the module's tables (or read them
back from their CSVs), write each table as CSV and the run's record as JSON, draw, save each figure
once (PNG at :data:`sparsecert.io.DPI`).

A figure module declares

* ``CONFIGS``: name -> frozen :class:`~.common.FigureConfig` (``micro``, ``quick``, ``full`` and
  named ones);
* ``TABLES``: the stems of the CSVs it writes, the first one required for ``--redraw``;
* ``compute(cfg, run) -> {stem: rows}`` (``run``: a :class:`Run`), which writes no file
  but its sweep store;
* optionally ``DERIVED`` and ``derive(tables, cfg) -> {stem: rows}``: tables computed from the
  others (summaries), written at every run and redraw;
* ``draw(tables, cfg) -> {stem: Figure}``, laid out, from the tables alone;
* optionally ``NEEDS_TORCH = True`` and ``GPU = True`` (``compute`` honours ``run.device``).

Files are named ``<out>/<paper>/<stem>[_<config>]`` (no suffix for quick and full), ``<paper>`` the
figure's sub-package (``recovery``, ``lottery``, ``transfer``, ``survey``).
"""

from __future__ import annotations

import csv
import importlib.util
import platform
import sys
import time
from pathlib import Path

from sparsecert import __version__
from sparsecert.io import read_csv, save_figure, write_csv, write_json
from . import REGISTRY, TORCH_HINT, paper
from .common import FigureConfig, Run, pick_config

__all__ = ["run", "Run", "environment"]


def run(name: str, out: str | Path = "figures", *, quick: bool = True, config: str | None = None,
        overrides: dict | None = None, seed: int = 0, executor: str | None = "process",
        progress: bool | None = None, device: str | None = None, redraw: bool = False) -> list[Path]:
    """Make one figure; return the paths of the PNGs written.

    Parameters
    ----------
    name : str
        A key of :data:`paper_repro.REGISTRY` (e.g. ``"planted"``).
    out : str or Path
        Root of the run's files: they go to ``out/<paper>/`` (made if missing).
    quick : bool
        The ``quick`` configuration, else ``full`` (when ``config`` is None).
    config : str, optional
        A configuration by name (a key of the module's ``CONFIGS``).
    overrides : dict, optional
        Settings changed from that configuration (``{"seeds": 1}``); checked, recorded in the
        ``.config.json``; the files keep the configuration's name.
    seed, executor, progress, device
        See :class:`Run`.
    redraw : bool
        Draw from the CSVs a run left in ``out`` without computing (no torch needed).

    Raises
    ------
    ValueError
        Unknown figure, configuration or setting; ``device`` for a figure without a GPU path.
    ImportError
        The figure needs torch and torch is not installed.
    FileNotFoundError
        ``redraw`` without the CSV of a run.
    ValueError
        ``redraw`` from a CSV without rows, that is not CSV, or without a column the figure draws
        (every figure is drawn before any PNG is written: a good PNG is never replaced by a bad one).
    sparsecert.files.OutputError
        A file that cannot be written (named; the previous one is intact).
    """
    if name not in REGISTRY:
        raise ValueError(f"no figure {name!r}; the figures are {', '.join(REGISTRY)}")
    module = REGISTRY[name]
    cfg: FigureConfig = pick_config(module.CONFIGS, quick, config)
    if overrides:
        cfg = cfg.replace(**overrides)
    if device is not None and not getattr(module, "GPU", False):
        raise ValueError(f"--device: {name} has no GPU path")
    if getattr(module, "NEEDS_TORCH", False) and not redraw and importlib.util.find_spec("torch") is None:
        raise ImportError(f"{name} needs torch: {TORCH_HINT}")
    t0 = time.perf_counter()
    ctx = Run(Path(out) / paper(name), config, quick, seed, executor, progress, device)
    ctx.out.mkdir(parents=True, exist_ok=True)
    if redraw:
        first, *rest = module.TABLES
        tables = {t: _read_table(ctx.path(t, ".csv")) for t in [first] + [t for t in rest if ctx.path(t, ".csv").exists()]}
    else:
        tables = module.compute(cfg, ctx)
        unknown = set(tables) - set(module.TABLES)
        if unknown:
            raise RuntimeError(f"{name}.compute returned tables {sorted(unknown)} not in its TABLES")
        for stem, rows in tables.items():
            write_csv(rows, ctx.path(stem, ".csv"))
    try:
        derived = module.derive(tables, cfg) if hasattr(module, "derive") else {}
        figures = module.draw({**tables, **derived}, cfg)  # every figure drawn before any PNG is written
    except KeyError as exc:
        if not redraw:
            raise
        raise ValueError(f"--redraw: the CSVs of {name} in {ctx.out} lack the column {exc} that the figure needs "
                         "(written by another version, or edited); rerun the figure without --redraw") from None
    if set(derived) - set(getattr(module, "DERIVED", ())):
        raise RuntimeError(f"{name}.derive returned tables {sorted(derived)} beyond its DERIVED")
    for stem, rows in derived.items():
        write_csv(rows, ctx.path(stem, ".csv"))
    paths = [save_figure(fig, ctx.path(stem, ".png"), tight=False) for stem, fig in figures.items()]
    if not redraw:
        record = {"figure": name, "config": ctx.key, "overrides": dict(overrides or {}), "settings": dict(cfg),
                  "seed": seed, "version": __version__, "seconds": round(time.perf_counter() - t0, 1),
                  "environment": environment(),
                  "files": [ctx.path(t, ".csv").name for t in [*tables, *derived]] + [p.name for p in paths]}
        write_json(record, ctx.path(name.replace("-", "_"), ".config.json"))
    return paths


def _read_table(path: Path) -> list[dict]:
    """A run's CSV for ``--redraw``: rows with the same columns; no rows, no header or text that is not
    CSV is a ValueError naming the file (a figure is never redrawn from nothing)."""
    try:
        rows = read_csv(path)
    except (UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise ValueError(f"--redraw: {path} is not a CSV a run wrote ({exc})") from None
    if not rows:
        raise ValueError(f"--redraw: {path} has no rows; rerun the figure without --redraw")
    return rows


def environment() -> dict:
    """What produced a run's numbers: Python, the platform and CPU, the cores the process ran on
    (torch's sums depend on its threads), the versions of NumPy, SciPy, Numba and torch (where
    installed) and the BLAS libraries with the kernels they chose for this CPU (chaotic cells move
    with them; recorded in every ``.config.json``)."""
    from importlib.metadata import PackageNotFoundError, version

    from sparsecert.parallel import available_cores

    env = {"python": platform.python_version(), "platform": f"{sys.platform}-{platform.machine()}",
           "cpu": _cpu_model(), "cores": available_cores()}
    for pkg in ("numpy", "scipy", "numba", "torch", "scikit-learn"):
        try:
            env[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = sorted({f"{i['internal_api']} {i['version']}" + (f" ({i['architecture']})" if i.get("architecture") else "")
                              for i in threadpool_info() if i["user_api"] == "blas"})
    except Exception:  # noqa: BLE001 - a record, never a failure
        pass
    return env


def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
