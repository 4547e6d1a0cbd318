"""Registered devices (issue 12): each browser install that logs in, its sessions, and the lost-device revoke.

A device is known by a long-lived HttpOnly cookie; only its SHA-256 is stored. Sessions are tied to the device
they were started on. Revoking a device ends its sessions and makes its next request (whatever the address) a
401 with Clear-Site-Data, after which the app itself deletes its IndexedDB, caches and service worker
(device-wipe.js). What its outbox still held goes with it: the device reports that count while it is online, and
the revoke pages show it before asking for confirmation.

What a device keeps to read offline is bounded here too (offline_window): the officer's current and next
deployment and the last 24 hours; the device forgets colleagues' records after FIELDAPP_DEVICE_FORGET_HOURS
without reaching the server.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import timedelta
from typing import Callable

from fieldapp import audit
from fieldapp.clock import iso, now_iso, utcnow
from fieldapp.db import one, write
from fieldapp.i18n import gettext as _
from fieldapp.ids import new_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

NAME_MAX = 60
SEEN_EVERY = timedelta(minutes=1)  # last_seen is written at most this often per device
KEEP_HOURS = 24  # a device keeps others' records of the last 24 hours only (and of its current and next deployment)
WAITING_MAX = 1_000_000


class DeviceInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def summary(user_agent: str) -> str:
    """A short, human name for a browser from its User-Agent: 'Chrome · Android'."""
    ua = user_agent or ""
    browser = next((name for pattern, name in (
        (r"EdgA?/", "Edge"), (r"SamsungBrowser/", "Samsung Internet"), (r"Firefox/|FxiOS/", "Firefox"),
        (r"CriOS/|Chrome/|Chromium/", "Chrome"), (r"Safari/", "Safari")) if re.search(pattern, ua)), "")
    system = next((name for pattern, name in (
        (r"Android", "Android"), (r"iPhone|iPad|iPod", "iOS"), (r"Windows", "Windows"),
        (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux")) if re.search(pattern, ua)), "")
    return " · ".join(part for part in (browser, system) if part)


def by_token(db, token: str | None) -> dict | None:
    if not token or len(token) > 200:
        return None
    return one(db, "SELECT * FROM devices WHERE token_hash = ?", [token_key(token)])


def get(db, device_id) -> dict | None:
    if not isinstance(device_id, str) or len(device_id) > 64:
        return None
    return one(db, """SELECT d.*, u.username, u.display_name, r.username AS revoked_by_name FROM devices d
                      JOIN users u ON u.id = d.user_id LEFT JOIN users r ON r.id = d.revoked_by
                      WHERE d.id = ?""", [device_id])


def register(db, user, token: str | None, user_agent: str) -> tuple[str, str | None]:
    """The device of this login: the one the cookie names when it is this user's and not revoked, else a new
    one. Returns (device id, new cookie token or None when the cookie stays)."""
    now = now_iso()
    found = by_token(db, token)
    if found and found["user_id"] == user.id and not found["revoked_at"]:
        with write(db):
            db.execute("UPDATE devices SET last_seen = ?, user_agent = ? WHERE id = ?",
                       [now, (user_agent or "")[:300], found["id"]])
        return found["id"], None
    token = secrets.token_urlsafe(32)
    device_id = new_id()
    with write(db):
        db["devices"].insert({
            "id": device_id, "token_hash": token_key(token), "user_id": user.id, "name": summary(user_agent),
            "user_agent": (user_agent or "")[:300], "app_version": "", "first_seen": now, "last_seen": now,
            "waiting": None, "waiting_at": None, "revoked_at": None, "revoked_by": None, "wiped_at": None})
        audit.record(db, user.id, "register", "device", device_id, summary(user_agent))
    return device_id, token


def seen(db, device: dict, app_version: str | None = None, later: Callable[[Callable], None] | None = None) -> None:
    """Note that the device reached the server (at most once a minute), and the app version it fetched.
    `later`: run the write as later(fn), fn(db) (the web app's writer thread; the request does not wait)."""
    now = utcnow()
    stale = device["last_seen"] < iso(now - SEEN_EVERY)
    if not stale and (app_version is None or app_version == device["app_version"]):
        return
    values = [iso(now), app_version if app_version is not None else device["app_version"], device["id"]]
    if later is not None:
        later(functools.partial(_seen, values=values))
    else:
        _seen(db, values)


def _seen(db, values: list) -> None:
    with write(db):
        db.execute("UPDATE devices SET last_seen = ?, app_version = ? WHERE id = ?", values)


def report(db, device: dict, waiting: int) -> None:
    """What the device says its outbox holds (records waiting or set aside)."""
    waiting = max(0, min(int(waiting), WAITING_MAX))
    with write(db):
        db.execute("UPDATE devices SET waiting = ?, waiting_at = ?, last_seen = ? WHERE id = ?",
                   [waiting, now_iso(), now_iso(), device["id"]])


def validate_name(raw) -> str:
    value = raw[-1] if isinstance(raw, list) and raw else raw
    name = clean(value if isinstance(value, str) else "").strip()
    if not name:
        raise DeviceInvalid({"name": _("Give the device a name.")})
    if len(name) > NAME_MAX:
        raise DeviceInvalid({"name": _("The name is too long (at most %(n)s characters).", n=NAME_MAX)})
    if find_identity_codes(name):
        raise DeviceInvalid({"name": _("Remove the personal identity code from the name.")})
    return name


def rename(db, device: dict, raw_name, by: str) -> str:
    name = validate_name(raw_name)
    with write(db):
        db.execute("UPDATE devices SET name = ? WHERE id = ?", [name, device["id"]])
        audit.record(db, by, "rename", "device", device["id"])
    return name


def revoke(db, device: dict, by: str) -> bool:
    """Take a device out of use (lost or stolen): its sessions end now and its next request wipes it.
    False when it was revoked already."""
    with write(db):
        changed = db.execute("UPDATE devices SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                             [now_iso(), by, device["id"]]).rowcount
        if not changed:
            return False
        ended = db.execute("DELETE FROM sessions WHERE device_id = ?", [device["id"]]).rowcount
        audit.record(db, by, "revoke", "device", device["id"],
                     f"user={device['user_id']} sessions={ended} waiting={_waiting_text(device)}")
    return True


def revoke_all(db, user_id: str, by: str) -> int:
    """Revoke every device of a user that is still in use; also ends any session not tied to a device."""
    count = 0
    for device in in_use(db, user_id):
        count += revoke(db, device, by)
    with write(db):
        db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])
    return count


def _waiting_text(device: dict) -> str:
    return "unknown" if device.get("waiting") is None else str(device["waiting"])


def wipe_delivered(db, device: dict) -> None:
    """The revoked device reached the server and was told to wipe itself (logged the first time)."""
    if device["wiped_at"]:
        return
    with write(db):
        if db.execute("UPDATE devices SET wiped_at = ? WHERE id = ? AND wiped_at IS NULL",
                      [now_iso(), device["id"]]).rowcount:
            audit.record(db, device["user_id"], "wipe", "device", device["id"], f"waiting={_waiting_text(device)}")


_LIST = """SELECT d.id, d.user_id, d.name, d.user_agent, d.app_version, d.first_seen, d.last_seen, d.waiting,
                  d.waiting_at, d.revoked_at, d.wiped_at, u.username, u.display_name, r.username AS revoked_by_name
           FROM devices d JOIN users u ON u.id = d.user_id LEFT JOIN users r ON r.id = d.revoked_by"""


def of_user(db, user_id: str) -> list[dict]:
    """A user's devices, in use first, most recently seen first."""
    return _described(db.query(_LIST + " WHERE d.user_id = ? ORDER BY d.revoked_at IS NOT NULL, d.last_seen DESC",
                                [user_id]))


def in_use(db, user_id: str) -> list[dict]:
    return [d for d in of_user(db, user_id) if not d["revoked_at"]]


def everyone(db, user_id: str | None = None, limit: int = 500) -> list[dict]:
    """All devices (an administrator's list), optionally one user's, in use first, most recently seen first."""
    where, params = ("WHERE d.user_id = ?", [user_id]) if user_id else ("", [])
    return _described(db.query(_LIST + f" {where} ORDER BY d.revoked_at IS NOT NULL, d.last_seen DESC LIMIT ?",
                                [*params, limit]))


def _described(rows) -> list[dict]:
    """Rows with `browser` (a summary of the User-Agent) and `status`: in_use, revoked (not yet reached), wiped."""
    return [{**row, "browser": summary(row["user_agent"]),
             "status": "wiped" if row["wiped_at"] else "revoked" if row["revoked_at"] else "in_use"} for row in rows]


def waiting_total(devices: list[dict]) -> tuple[int, bool]:
    """(records the devices last reported waiting, whether any device never reported)."""
    return (sum(d["waiting"] or 0 for d in devices), any(d["waiting"] is None for d in devices))


def offline_since(hours: int = KEEP_HOURS) -> str:
    """The oldest record time a device keeps for offline reading."""
    return iso(utcnow() - timedelta(hours=hours))


def offline_window(deployments: list[dict], now=None) -> list[dict]:
    """Of a user's deployments (each with starts_at, ends_at), those a device keeps offline: the ones going on
    now or ended in the last KEEP_HOURS, and the next one to start."""
    now = now or utcnow()
    since, now_text = iso(now - timedelta(hours=KEEP_HOURS)), iso(now)
    current = [d for d in deployments if d["starts_at"] <= now_text and d["ends_at"] >= since]
    upcoming = sorted((d for d in deployments if d["starts_at"] > now_text), key=lambda d: d["starts_at"])
    return current + upcoming[:1]

