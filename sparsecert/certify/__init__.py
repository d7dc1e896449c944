"""Certificates: check the hypotheses of recovery theorems on a concrete instance.

Each function returns a :class:`Certificate`: the condition, the computed
value, the threshold it is compared with, whether it ``holds``, ``fails`` or
is ``unknown``, and how the value was obtained:

* ``exact`` -- computed exactly (enumeration, LP): ``holds`` or ``fails``;
* ``bound`` -- an upper bound on the quantity (e.g. RIP from coherence):
  ``holds`` when the bound clears the threshold, ``unknown`` otherwise;
* ``sampled`` -- a lower bound found by search: ``fails`` when it already
  violates the threshold, ``unknown`` otherwise.

What each certificate proves (and costs):

==========================  ========================================================  ===========================
certificate                 proves                                                    cost
==========================  ========================================================  ===========================
mutual coherence mu         s < (1 + 1/mu)/2 => unique s-sparse solution, OMP/        O(N^2 n), blockwise
                            BP recover (Donoho-Elad, Tropp)
Babel mu_1(k)               mu_1(s-1) + mu_1(s) < 1 => OMP/BP recover (Tropp)         O(N^2 n), O(N k) memory
RIP delta_k (exact)         IHT: delta_3s < 1/sqrt(32) (Blumensath-Davies 2009);      C(N, k) eigenproblems
                            HTP: delta_3s < 1/sqrt(3) (Foucart 2011);
                            CoSaMP: delta_4s <= 0.1 (Needell-Tropp 2009);
                            lower constant < 1 (every 2s columns independent)
                            => unique s-sparse solution
RIP from coherence          delta_k <= (k-1) mu (unit-norm columns, Gershgorin)       free given mu
RIP sampled lower bound     a violated threshold (never a proof that it holds)        random + greedy supports
ERC (Tropp 2004)            max_{j not in S} ||A_S^+ a_j||_1 < 1 => OMP and BP        O(N s n)
                            recover every vector supported on S
NSP for a support (LP)      BP recovers every vector on S (with the given             ``2^|S|`` LPs (SciPy HiGHS)
                            signs, or all signs)
ReLU structure              separation and coverage of the planted patterns           O(n p^2)
support eigenvalues         alpha_S, beta_S on one support S of size k; kappa_S       O(n k^2)
                            bounds kappa_k' below for k' >= k (Cauchy interlacing)
sample_size (measured law)  predicts n50 of fixed-pattern NIHT on planted ReLU nets   free (a fitted law)
                            with a prediction interval: a measurement, not a proof
==========================  ========================================================  ===========================
"""

from __future__ import annotations

from .base import GRAM_ROWS_BYTES, Certificate, babel, column_blocks, mutual_coherence
from .conditions import (
    COSAMP_DELTA4S,
    HTP_DELTA3S,
    IHT_DELTA3S,
    algorithm_certificates,
    certify_solution,
    exact_recovery_condition,
    null_space_property,
    rip_from_coherence,
)
from .eigen import (
    JTK_C,
    RestrictedEigenvalues,
    relaxed_iht,
    restricted_eigenvalues,
    rip_exact,
    rip_sampled,
    support_eigenvalues,
)
from .relu import pattern_statistics, population_separation, relu_structure
from .sample_size import LAWS, SampleSize, sample_size

__all__ = [
    "Certificate",
    "column_blocks",
    "mutual_coherence",
    "babel",
    "rip_exact",
    "rip_sampled",
    "rip_from_coherence",
    "algorithm_certificates",
    "exact_recovery_condition",
    "null_space_property",
    "restricted_eigenvalues",
    "support_eigenvalues",
    "sample_size",
    "SampleSize",
    "LAWS",
    "RestrictedEigenvalues",
    "relaxed_iht",
    "relu_structure",
    "pattern_statistics",
    "population_separation",
    "certify_solution",
    "GRAM_ROWS_BYTES",
    "IHT_DELTA3S",
    "HTP_DELTA3S",
    "COSAMP_DELTA4S",
    "JTK_C",
]
