"""Emerging Paradigms of Neural Network Pruning (the survey's taxonomy): when, what and how to prune,
every method through one vocabulary on one model; BINGO's and NEq's methods are among them. See
``README.md``."""
