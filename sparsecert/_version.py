"""The package version (layer 0: read by modules that record it)."""

__version__ = "0.4.18"
