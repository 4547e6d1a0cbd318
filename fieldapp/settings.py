"""Settings, read from the environment once per app, never cached at import time."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path


def setting(variable: str, default, help_text: str):
    """A setting declared once: its environment variable, default and help (tests/test_docs.py checks the README
    names each one with its default)."""
    return field(default=default, metadata={"env": variable, "help": help_text})


@dataclass(frozen=True)
class Settings:
    db_path: Path = setting("FIELDAPP_DB", Path("var/fieldapp.db"),
                            "SQLite database file; secrets are kept beside it")
    default_locale: str = setting("FIELDAPP_DEFAULT_LOCALE", "fi",
                                  "UI language when neither the user nor the browser chooses one")
    session_hours: int = setting("FIELDAPP_SESSION_HOURS", 12, "How long a login lasts without activity")
    session_max_hours: int = setting("FIELDAPP_SESSION_MAX_HOURS", 12,
                                     "How long a login lasts at most, however active (then log in again)")
    device_forget_hours: int = setting("FIELDAPP_DEVICE_FORGET_HOURS", 12,
                                       "Hours without reaching the server after which a device forgets others' records")
    login_hashes: int = setting("FIELDAPP_LOGIN_HASHES", 1,
                                "Password checks (argon2id) run at once, off the event loop; a login finding twice "
                                "as many waiting is answered 429")
    login_failures_per_account: int = setting("FIELDAPP_LOGIN_FAILURES_PER_ACCOUNT", 10,
                                              "Failed logins for one username in 15 min before it is locked "
                                              "(1 min, doubling while failures go on, at most 1 h)")
    login_failures_per_address: int = setting("FIELDAPP_LOGIN_FAILURES_PER_ADDRESS", 30,
                                              "Failed logins from one client address in 15 min before it is locked")
    secure_cookies: str = setting("FIELDAPP_SECURE_COOKIES", "auto",
                                  "Secure flag on cookies: auto (when served over https), on, off")
    sync_batch_max: int = setting("FIELDAPP_SYNC_BATCH_MAX", 200, "Most records one sync request may carry")
    sync_queue_records: int = setting("FIELDAPP_SYNC_QUEUE_RECORDS", 5000,
                                      "Most records waiting for the writer (fewer when it writes slower: what it "
                                      "writes in 0.5 s); a sync batch beyond them is answered 503 with Retry-After")
    max_body_bytes: int = setting("FIELDAPP_MAX_BODY_BYTES", 2_000_000, "Largest request body accepted")
    tile_url: str = setting("FIELDAPP_TILE_URL", "",
                            "XYZ raster tile URL template ({z}/{x}/{y}, optional {s}) of the department's own tile "
                            "server; empty: the map says it has no background map")
    tile_attribution: str = setting("FIELDAPP_TILE_ATTRIBUTION", "",
                                    "Credit line the tile server's licence asks for, shown on the map (plain text)")
    tile_radius_m: int = setting("FIELDAPP_TILE_RADIUS_M", 1000,
                                 "Radius in metres (at most 5000) around a deployment's place whose map tiles "
                                 "(zoom 10-17) a device keeps for offline use")
    tile_cache_mb: int = setting("FIELDAPP_TILE_CACHE_MB", 50,
                                 "Most megabytes of map tiles a device keeps for all its deployments together")
    por_url: str = setting("FIELDAPP_POR_URL", "", "Endpoint of the POR situation picture feed; empty: nothing is queued")
    por_token: str = setting("FIELDAPP_POR_TOKEN", "", "Bearer token for the POR feed")
    alert_severity: int = setting("FIELDAPP_ALERT_SEVERITY", 5,
                                  "Tension severity (1-6) at or above which leads are alerted")
    alert_hotspot_score: int = setting("FIELDAPP_ALERT_HOTSPOT_SCORE", 64,
                                       "Situation-picture score of a cell (last 3 h) at which leads are alerted; 0: off")
    vapid_subject: str = setting("FIELDAPP_VAPID_SUBJECT", "mailto:fieldapp-admin@example.invalid",
                                 "VAPID subject claim for Web Push")
    push_hosts: str = setting("FIELDAPP_PUSH_HOSTS", "", "Push service hosts (comma-separated suffixes) the server may "
                              "send to; empty: the browsers' public push services")
    push_loopback: int = setting("FIELDAPP_PUSH_LOOPBACK", 0,
                                 "1: push subscriptions may point at 127.0.0.1/localhost (tests, demos with a local "
                                 "push service); 0: never")
    push_concurrency: int = setting("FIELDAPP_PUSH_CONCURRENCY", 8,
                                    "Web Push sends in flight at once (sender threads of the push worker)")
    replica_url: str = setting("FIELDAPP_REPLICA_URL", "",
                               "Litestream replica (file:///dir on another disk, or s3://bucket/path) that "
                               "`fieldapp serve` keeps up to date; empty: no replica")
    retention_contact_days: int = setting("FIELDAPP_RETENTION_CONTACT_DAYS", 1826,
                                          "Days a contact is kept after it was entered (616/2019 §34: 5 years)")
    retention_tension_days: int = setting("FIELDAPP_RETENTION_TENSION_DAYS", 1826,
                                          "Days a tension observation is kept after it was entered (5 years)")
    retention_intervention_days: int = setting("FIELDAPP_RETENTION_INTERVENTION_DAYS", 1826,
                                               "Days an intervention is kept after it was entered (5 years)")
    retention_deleted_days: int = setting("FIELDAPP_RETENTION_DELETED_DAYS", 0,
                                          "Days a deleted record keeps its notes, place name and versions "
                                          "(0: until the next daily purge)")
    retention_conflict_days: int = setting("FIELDAPP_RETENTION_CONFLICT_DAYS", 90,
                                           "Days a device's conflicting version is kept")
    retention_por_days: int = setting("FIELDAPP_RETENTION_POR_DAYS", 30,
                                      "Days a delivered POR feed payload is kept")
    retention_audit_days: int = setting("FIELDAPP_RETENTION_AUDIT_DAYS", 2192,
                                        "Days an audit log row is kept (6 years: a year beyond the records)")
    # Tuning that only tests and benchmarks set (poll intervals, backoff of the workers); not from the environment.
    extra: dict = field(default_factory=dict)

    @classmethod
    def declared(cls) -> dict[str, tuple[str, str, str]]:
        """field name -> (environment variable, default as text, help) of every setting read from the environment."""
        return {f.name: (f.metadata["env"], str(f.default), f.metadata["help"])
                for f in fields(cls) if "env" in f.metadata}

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Settings":
        """Build settings from environment variables (a variable not set keeps its default)."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            if "env" not in f.metadata or f.metadata["env"] not in env:
                continue
            raw = env[f.metadata["env"]]
            values[f.name] = type(f.default)(raw) if isinstance(f.default, (int, Path)) else raw
        return cls(**values)

    @property
    def data_dir(self) -> Path:
        return self.db_path.parent

    def secret(self, name: str, nbytes: int = 32) -> str:
        """A secret generated on first use and kept beside the database (mode 0600)."""
        path = self.data_dir / f".{name}"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
