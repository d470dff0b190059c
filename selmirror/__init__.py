"""selmirror: keep a selective, offline-installable mirror of a Python package index."""

__version__ = "0.2.0"
