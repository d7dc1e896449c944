"""A Recovery Guarantee for Sparse Neural Networks (Fridovich-Keil & Pilanci): planted MLPs (Figs. 1-2),
classification (Fig. 3), implicit neural representations (Figs. 4-5), the sequential rule's regression
check, and the theory figures (Gaussian and ReLU phase diagrams, certificates). See ``README.md`` here."""
