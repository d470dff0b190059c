"""Progress hooks the core calls; they do nothing unless the CLI supplies a subclass.

Methods may be called from worker threads, concurrently.
"""

from __future__ import annotations


class Progress:
    """No-op progress reporter (resolvelib's reporter idea)."""

    def page_queued(self) -> None:
        """One more project page to fetch (the total grows as dependencies are found)."""

    def page_done(self, name: str) -> None:
        """One project page was fetched (or failed)."""

    def downloads_start(self, files: int, total_bytes: int) -> None:
        """About to fetch ``files`` files of about ``total_bytes`` bytes."""

    def bytes_done(self, count: int) -> None:
        """``count`` more bytes arrived."""

    def file_done(self, filename: str, status: str) -> None:
        """One file reached its final status."""

    def close(self) -> None:
        """The run is over."""
