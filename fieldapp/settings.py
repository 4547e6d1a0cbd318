"""Settings, read from the environment once per app, never cached at import time."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

# Each setting: environment variable, default, help text. tests/test_docs.py checks the README names each one.
SETTINGS_HELP = {
    "db_path": ("FIELDAPP_DB", "var/fieldapp.db", "SQLite database file; secrets are kept beside it"),
    "default_locale": ("FIELDAPP_DEFAULT_LOCALE", "fi", "UI language when neither the user nor the browser chooses one"),
    "session_hours": ("FIELDAPP_SESSION_HOURS", "12", "How long a login lasts without activity"),
    "secure_cookies": ("FIELDAPP_SECURE_COOKIES", "auto", "Secure flag on cookies: auto (when served over https), on, off"),
    "sync_batch_max": ("FIELDAPP_SYNC_BATCH_MAX", "200", "Most records one sync request may carry"),
    "max_body_bytes": ("FIELDAPP_MAX_BODY_BYTES", "2000000", "Largest request body accepted"),
    "tile_url": ("FIELDAPP_TILE_URL", "", "Map tile URL template of the department's own tile server; empty: plain background"),
    "por_url": ("FIELDAPP_POR_URL", "", "Endpoint of the POR situation picture feed; empty: nothing is queued"),
    "por_token": ("FIELDAPP_POR_TOKEN", "", "Bearer token for the POR feed"),
    "alert_severity": ("FIELDAPP_ALERT_SEVERITY", "5", "Tension severity (1-6) at or above which leads are alerted"),
    "alert_hotspot_score": ("FIELDAPP_ALERT_HOTSPOT_SCORE", "64", "Situation-picture score of a cell (last 3 h) at which leads are alerted; 0: off"),
    "vapid_subject": ("FIELDAPP_VAPID_SUBJECT", "mailto:fieldapp-admin@example.invalid", "VAPID subject claim for Web Push"),
    "push_hosts": ("FIELDAPP_PUSH_HOSTS", "", "Push service hosts (comma-separated suffixes) the server may send to; empty: the browsers' public push services"),
    "push_concurrency": ("FIELDAPP_PUSH_CONCURRENCY", "8", "Web Push sends in flight at once (sender threads of the push worker)"),
}


@dataclass(frozen=True)
class Settings:
    db_path: Path = Path("var/fieldapp.db")
    default_locale: str = "fi"
    session_hours: int = 12
    secure_cookies: str = "auto"
    sync_batch_max: int = 200
    max_body_bytes: int = 2_000_000
    tile_url: str = ""
    por_url: str = ""
    por_token: str = ""
    alert_severity: int = 5
    alert_hotspot_score: int = 64
    vapid_subject: str = "mailto:fieldapp-admin@example.invalid"
    push_concurrency: int = 8
    push_hosts: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Settings":
        """Build settings from environment variables (see SETTINGS_HELP)."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            if f.name not in SETTINGS_HELP:
                continue
            var, default, _ = SETTINGS_HELP[f.name]
            raw = env.get(var, default)
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.name == "db_path":
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
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
