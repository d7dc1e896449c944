"""What an INR fit's resident-set growth is made of, beyond what NumPy allocates (issue "The recovery paper
at full size": the Fig. 4 cells at m = 100 where IHT is not 10x below IMP).

One fresh process per setting; in each, a warm-up fit, then per s: the resident set's growth over the
fit (``measured_bytes``, the figures' instrument) and, in a second run of the same fit, tracemalloc's
peak (NumPy's and Python's allocations). The settings isolate the candidates for the rest: the threads
of the products' pool (``SPARSECERT_NUM_THREADS=1``) and glibc's per-thread arenas
(``MALLOC_ARENA_MAX=1``), and a torch IMP run before the fits (as in the figure's grid, where IMP
runs in the same process between the widths).

    python paper_repro/recovery/scripts/inr_memory_breakdown.py --m 100 --s 50 200 500 1000 --seed 0

The image is Fashion-MNIST test image 1000 where Debian's dataset-fashion-mnist is installed, else
scikit-learn's ``china.jpg`` at the same 28 x 28 (the same n = 784 samples and d = 1500 features).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SETTINGS = {"default": {}, "one thread": {"SPARSECERT_NUM_THREADS": "1"}, "one arena": {"MALLOC_ARENA_MAX": "1"},
            "one thread, one arena": {"SPARSECERT_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"},
            "after an IMP run (torch) in the process": {"BREAKDOWN_IMP_FIRST": "1"}}


def measure(m, ss, seed, epochs):
    """``{s: (rss_bytes, traced_bytes)}`` in this process."""
    from sparsecert.working_set import measure_peak, measured_bytes
    from paper_repro.recovery.inr import load_image
    from paper_repro.recovery.tasks import fit_iht, inr_task, warm_up

    try:
        image = load_image(("fashion-mnist", 1000))
    except (OSError, ValueError):  # the stand-in of the same size
        image = load_image(("sample", "china.jpg", 28, True))
    task = inr_task(image, d=1500, sigma=2.0, rng=seed)
    warm_up(task, "iht")
    if os.environ.get("BREAKDOWN_IMP_FIRST"):  # as in the figure's grid, where IMP runs between the widths
        from paper_repro.recovery.tasks import fit_imp

        fit_imp(task, m, [max(ss)], epochs=5)
    out = {}
    for s in ss:
        _, rss = measured_bytes(fit_iht, task, m, s, epochs=epochs, rng=seed)
        _, traced = measure_peak(fit_iht, task, m, s, epochs=epochs, rng=seed)
        out[s] = (rss, traced["traced_bytes"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=100)
    ap.add_argument("--s", type=int, nargs="+", default=[50, 200, 500, 1000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.m, a.s, a.seed, a.epochs)))
        return
    print(f"m = {a.m}, seed {a.seed}: resident-set growth / traced peak (MB)")
    print("| setting | " + " | ".join(f"s = {s}" for s in a.s) + " |")
    print("| --- |" + " --- |" * len(a.s))
    for name, env in SETTINGS.items():
        done = subprocess.run([sys.executable, __file__, "--child", "--m", str(a.m), "--seed", str(a.seed),
                               "--epochs", str(a.epochs), "--s", *map(str, a.s)],
                              env={**os.environ, **env}, capture_output=True, text=True, check=True)
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        cells = [f"{rows[str(s)][0] / 1e6:.1f} / {rows[str(s)][1] / 1e6:.1f}" for s in a.s]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
