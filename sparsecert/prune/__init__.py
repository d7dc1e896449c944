"""Pruning vocabulary: one entry point (:func:`prune` runs a :class:`Plan` on a NumPy or a torch
network), scores (what to keep) and mask selection (how many, where).

``scores`` holds the scoring rules (magnitude, random, SNIP, GraSP, SynFlow and
the mask criteria of "Deconstructing Lottery Tickets"), each returning one
score array per weight matrix (keep the largest); ``select_masks`` turns
scores into masks with an exact count under a documented rounding rule.
"""

from .plan import Plan, prune
from .scores import SCORES, grasp, magnitude, random_scores, snip, synflow, zhou_criterion
from .select import ROUNDINGS, prune_count, select_masks

__all__ = ["Plan", "prune", "SCORES", "magnitude", "random_scores", "snip", "grasp", "synflow", "zhou_criterion",
           "select_masks", "prune_count", "ROUNDINGS"]
