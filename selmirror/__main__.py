"""``python -m selmirror``."""

from selmirror.entry import run

run()
