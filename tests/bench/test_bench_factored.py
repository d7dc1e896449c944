"""Benchmark: an epoch of the factored fit's minibatch steps (Fig. 3's 10-class schedule), its batch read
in place from a sample-major X against the same steps on batches gathered from a feature-major X (the
0.4.9 way, the baseline).

Group ``factored-epoch``: n = 20,000 samples of d = 784 uniform pixels, k = 10 one-hot classes, m = 100,
s = 2,000, cross-entropy, four batches of 5,000 (one epoch). Both layouts take the same iterates (a
test holds them equal); each row's ``extra_info`` carries tracemalloc's peak of the epoch (bytes), the
gathered batch being 31 MB.

Group ``factored-wide``: the same data and epoch at m = 1,000 (the paper's widest), the pass scoring at
most 256 idle units for entry (the default, 0.4.14) against every idle unit every pass (``idle_scored=None``,
the rule until 0.4.13, the baseline). Run with ``make bench``; no timing is asserted, the note reports the
ratios.
"""

import tracemalloc

import numpy as np
import pytest

from sparsecert.recovery.factored import FactoredIHTSolver

N, D, K, M, S, B = 20_000, 784, 10, 100, 2_000, 5_000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((N, D))
    return X, np.eye(K)[rng.integers(0, K, N)]


@pytest.mark.parametrize("layout", ["sample-major", "feature-major"])
def test_factored_minibatch_epoch(benchmark, data, layout):
    X, Y = data
    X = np.ascontiguousarray(X) if layout == "sample-major" else np.asfortranarray(X)
    benchmark.group = "factored-epoch"

    def epoch():
        return FactoredIHTSolver(X, Y, M, S, block=64, rng=0, loss="cross-entropy").run_epochs(1, B)

    benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)
    tracemalloc.start()
    epoch()
    benchmark.extra_info["traced_peak_bytes"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()


@pytest.mark.parametrize("idle_scored", [256, None], ids=["window-256", "every-idle-unit"])
def test_factored_wide_epoch(benchmark, data, idle_scored):
    X, Y = np.ascontiguousarray(data[0]), data[1]
    benchmark.group = "factored-wide"

    def epoch():
        return FactoredIHTSolver(X, Y, 1000, S, block=64, rng=0, loss="cross-entropy",
                                 idle_scored=idle_scored).run_epochs(1, B)

    benchmark.pedantic(epoch, rounds=2, warmup_rounds=1)
