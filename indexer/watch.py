"""Keep an index current: every interval, re-index what changed under the sources and publish, until stopped.

A round whose files (paths, sizes, modification times) are as the last round left them costs a directory scan;
otherwise it is an ordinary incremental build_index (diff by content hash: only new and changed articles are
embedded; with prune, articles whose file or entry is gone are removed) and an atomic publish, which a server
on the same folder loads by itself. Stopping (Ctrl-C, SIGTERM, Watcher.stop) takes effect between builds."""
from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .config import Settings
from .sources import LoadWarning, iter_files, require_sources, source_list

log = logging.getLogger("edsearch")

_INTERVAL = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)?$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600}


def parse_interval(value: str | float | int) -> float:
    """Seconds from "60s", "5m", "1h", or a plain number of seconds; ValueError with the accepted forms."""
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _INTERVAL.match(value.strip())
        if not m:
            raise ValueError(f"interval {value!r} is not a duration; write seconds (60 or 60s), minutes (5m) "
                             "or hours (1h)")
        seconds = float(m.group(1)) * _UNIT[(m.group(2) or "s")[0].lower()]
    if not seconds > 0:
        raise ValueError(f"interval {value!r} must be more than zero seconds")
    return seconds


class Watcher:
    """Re-indexes `sources` into `index_dir` every `every` seconds until stop() (run() blocks; start() threads).

    Errors of one round (a refused file, a busy or unwritable index) are logged and leave the published index
    as it was; the round is tried again when the files change (at once for a busy index)."""

    def __init__(self, sources: Sequence[str | Path], index_dir: str | Path | None = None, *, every: str | float = 60.0,
                 prune: bool = False, settings: Settings | None = None, model: str | None = None,
                 on_build: Callable[[object], None] | None = None):
        self.sources = [str(s) for s in source_list(sources)]
        require_sources(self.sources, every=True)
        self.settings = settings or Settings.from_env()
        self.index_dir = Path(index_dir or self.settings.index)
        self.every = parse_interval(every)
        self.prune, self.model, self.on_build = prune, model, on_build
        self.rounds = 0                       # builds run (not the rounds skipped because nothing changed)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._building = threading.Event()
        self._seen: tuple | None = None
        self._thread: threading.Thread | None = None

    @property
    def building(self) -> bool:
        return self._building.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def fingerprint(self) -> tuple:
        """What a round compares: every source file's path, size and modification time (and what is missing)."""
        seen = []
        for item in iter_files(self.sources):
            if isinstance(item, LoadWarning):
                seen.append((item.source, item.message))
                continue
            try:
                st = os.stat(item[0])
            except OSError as exc:
                seen.append((str(item[0]), str(exc)))
                continue
            seen.append((str(item[0]), st.st_size, st.st_mtime_ns))
        return tuple(seen)

    def run_once(self):
        """One round: a build when the files changed since the last one. Returns its BuildSummary, or None."""
        from .build import build_index       # the embedding stack, only once there is something to build
        from .format import IndexBusy, IndexStoreError
        from .embedding import ModelError

        current = self.fingerprint()
        if current == self._seen:
            return None
        self._building.set()
        try:
            summary = build_index(self.sources, self.index_dir, model=self.model, prune=self.prune,
                                  settings=self.settings, progress=False)
        except IndexBusy as exc:
            self._report_error(f"{exc}; trying again in {self.every:g}s")
            return None                       # not recorded as seen: the next round tries again
        except (IndexStoreError, ModelError, ValueError, OSError) as exc:
            self._seen = current              # a refused file or a model problem: wait for the files to change
            self._report_error(f"{exc}; the published index is as it was, trying again when the files change")
            return None
        finally:
            self._building.clear()
        self._seen = current
        self.rounds += 1
        self.last_error = None
        for w in summary.warnings:
            log.warning("warning: %s", w)
        log.info("[%s] %s", time.strftime("%H:%M:%S"), summary.describe().replace("\n", "; "))
        if self.on_build:
            self.on_build(summary)
        return summary

    def _report_error(self, message: str) -> None:
        if message != self.last_error:       # once, not every interval
            log.error("edsearch: watch: %s", message)
        self.last_error = message

    def run(self) -> None:
        """Rounds every `every` seconds until stop(); a stop during a build takes effect after its publish."""
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()

    def start(self) -> threading.Thread:
        """run() in a daemon thread (the server's --watch); stop() then join() it to end between builds."""
        self._thread = threading.Thread(target=self.run, daemon=True, name="edsearch-watch")
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


@contextmanager
def stop_on_signals(watcher: Watcher, notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """While inside: Ctrl-C (SIGINT) and SIGTERM ask `watcher` to stop instead of raising, so a build under way
    finishes and publishes (or finds nothing to publish) before run() returns. Main thread only.

    `notify` is called inside the signal handler, possibly while the main thread is itself writing to the same
    stream: it must not use buffered I/O or logging (os.write is safe)."""
    def handler(signum, _frame):
        watcher.stop()
        if notify:
            notify("stopping after the build under way finishes and publishes" if watcher.building else "stopping")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
