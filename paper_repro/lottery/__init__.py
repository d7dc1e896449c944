"""Lottery Tickets in Linear Models (Elesedy, Kanade & Teh) and the Lottery Ticket Hypothesis (Frankle &
Carbin): IMP's path and support recovery in linear models; Lenet-300-100 tickets. See ``README.md``."""
