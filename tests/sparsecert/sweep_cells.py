"""Experiments for the sweep's fault tests (imported by name by spawned pool workers)."""

import time


def slow(params, seed):
    """Sleeps ``params["t"]`` seconds, then returns the seed (a cell whose cost is known)."""
    time.sleep(float(params["t"]))
    return {"value": seed}


def wide(params, seed):
    """A row of ``params["width"]`` characters (a CSV of known size)."""
    return {"text": "x" * int(params["width"]), "value": seed}


def clashing(params, seed):
    """Returns a key that is also a parameter, with another value (the rows would vanish)."""
    return {"t": -1.0, "value": seed}
