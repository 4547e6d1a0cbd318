"""The continuous replica: `fieldapp serve` runs Litestream beside the server while FIELDAPP_REPLICA_URL is set.

Litestream copies every committed WAL frame to the replica (a `file://` directory on another disk, or an
S3-compatible `s3://` URL) within SYNC_INTERVAL, so a dead disk loses at most the records acknowledged in the
last LOSS_WINDOW_SECONDS (measured on a 2-core machine under load: under 1.5 s; see tests/test_replica.py).
`fieldapp restore --from-replica` brings the latest state back (fieldapp/backup.py).

The supervisor restarts Litestream when it exits (backoff 1 s doubling to 60 s) and stops it with the server.
Litestream is started so that the kernel ends it when the server dies (PR_SET_PDEATHSIG): a server killed
with SIGKILL must not leave a replicating orphan beside the next server's own Litestream.
"""

from __future__ import annotations

import ctypes
import json
import logging
import signal
import subprocess
import threading
import time
from pathlib import Path

from fieldapp.backup import litestream_binary
from fieldapp.retry import backoff

log = logging.getLogger("fieldapp.replica")
SYNC_INTERVAL = "1s"
LOSS_WINDOW_SECONDS = 5  # what the README promises: records acknowledged longer ago than this are in the replica
PR_SET_PDEATHSIG = 1


def config_text(db_path: Path, replica_url: str) -> str:
    """Litestream's configuration for one database and one replica (YAML; paths and URL quoted as JSON)."""
    return (f"dbs:\n  - path: {json.dumps(str(Path(db_path).resolve()))}\n"
            f"    replica:\n      url: {json.dumps(replica_url)}\n      sync-interval: {SYNC_INTERVAL}\n")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ReplicaSupervisor:
    """Runs `litestream replicate` for the database until stop(); restarts it when it exits."""

    def __init__(self, db_path: Path, replica_url: str, *, log_path: Path | None = None):
        self.db_path = Path(db_path)
        self.replica_url = replica_url
        self.config_path = self.db_path.with_name(f".{self.db_path.name}.litestream.yml")
        self.log_path = log_path or self.db_path.with_name(f"{self.db_path.name}.litestream.log")
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.config_path.write_text(config_text(self.db_path, self.replica_url))
        self.binary = litestream_binary()  # fails now, at start, when it is missing
        self._thread = threading.Thread(target=self._run, name="fieldapp-replica", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Litestream (SIGTERM: it syncs what it has, then exits) and the supervising thread."""
        self._stop.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        # The child gets PDEATHSIG when this thread ends, so Popen and wait stay in this one thread.
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            with self.log_path.open("ab") as log_file:
                self.process = subprocess.Popen(
                    [self.binary, "replicate", "-config", str(self.config_path)],
                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent)
                code = self.process.wait()
            if self._stop.is_set():
                return
            failures = 1 if time.monotonic() - started > 60 else failures + 1  # a long run starts the backoff anew
            self.restarts += 1
            delay = backoff(failures, 1.0, 60.0)
            log.error("litestream exited with %s; restarting in %.0f s (log: %s)", code, delay, self.log_path)
            self._stop.wait(delay)
