"""The terminal face of the CLI: rich progress bars and log lines. Imported only when
stderr is a terminal, so that cron runs never load rich."""

from __future__ import annotations

import logging
import threading

from rich.console import Console
from rich.filesize import decimal
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.text import Text

from selmirror.progress import Progress

CONSOLE = Console(stderr=True, highlight=False)


def log_handler() -> logging.Handler:
    handler = RichHandler(console=CONSOLE, show_path=False, show_time=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class _CountColumn(ProgressColumn):
    """``3/15 pages``, or ``12/32 files  120.3/553.2 MB  95.1 MB/s`` for the download bar."""

    def render(self, task: Task) -> Text:
        if "files" not in task.fields:
            return Text(f"{int(task.completed)}/{int(task.total or 0)} pages")
        done, total = decimal(int(task.completed)), decimal(int(task.total or 0))
        speed = f"  {decimal(int(task.speed))}/s" if task.speed else ""
        return Text(f"{task.fields['done']}/{task.fields['files']} files  {done}/{total}{speed}")


class BarProgress(Progress):
    """Rich progress bars for a terminal: project pages, then files and bytes."""

    def __init__(self) -> None:
        self.bar = RichBar(
            TextColumn("{task.description:<6}"),
            BarColumn(bar_width=24),
            _CountColumn(),
            TimeRemainingColumn(),
            console=CONSOLE,
            transient=True,
        )
        self.pages: TaskID | None = None
        self.files: TaskID | None = None
        self.done = 0
        self.queued = 0
        self.early = 0  # bytes fetched before the files bar was shown
        self.lock = threading.Lock()

    def page_queued(self) -> None:
        with self.lock:  # called from the threads that discover dependencies
            if self.pages is None:
                self.bar.start()
                self.pages = self.bar.add_task("pages", total=0)
            self.queued += 1
            self.bar.update(self.pages, total=self.queued)

    def page_done(self, name: str) -> None:
        if self.pages is not None:
            self.bar.advance(self.pages)

    def downloads_start(self, files: int, total_bytes: int) -> None:
        with self.lock:  # what arrived ahead of the bar (fetched during resolution) counts
            self.files = self.bar.add_task(
                "files", total=total_bytes, completed=self.early, files=files, done=0
            )

    def bytes_done(self, count: int) -> None:
        with self.lock:
            if self.files is None:
                self.early += count
                return
        self.bar.advance(self.files, count)

    def file_done(self, filename: str, status: str) -> None:
        with self.lock:
            if self.files is not None:
                self.done += 1
                self.bar.update(self.files, done=self.done)

    def close(self) -> None:
        self.bar.stop()
