"""``python -m selmirror``."""

from selmirror.cli import run

run()
