"""NEq (neurons at equilibrium): its page (``README.md``); the method runs in :mod:`sparsecert.neq` and
its figure is the survey's pruning comparison (:mod:`paper_repro.survey.pruning`)."""
