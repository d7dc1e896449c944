"""Sparse Transfer Learning via Winning Lottery Tickets (Mehta): tickets found on one task, retrained on
another. See ``README.md``."""
