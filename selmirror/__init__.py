"""selmirror: keep a selective, offline-installable mirror of a Python package index."""

__version__ = "0.1.0"
