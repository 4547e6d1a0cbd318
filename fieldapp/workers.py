"""A background thread with prompt start, stop and wake-up: the base of the push sender and the POR feed."""

from __future__ import annotations

import threading


class BackgroundWorker:
    """Subclasses implement _run(), which loops until self._stop is set and waits on self._wake."""

    thread_name = "fieldapp-worker"
    join_seconds = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._before_start()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it (at most join_seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.join_seconds)
            self._thread = None

    def wake(self) -> None:
        """Look at the queue now instead of at the next poll."""
        self._wake.set()

    def _before_start(self) -> None:
        """Reset per-run state (queues) before the thread starts."""

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
