"""Users, roles, passwords (argon2id) and server-side sessions."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fieldapp import audit
from fieldapp.clock import iso, now_iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.i18n import gettext as _
from fieldapp.ids import new_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

ROLES = ("officer", "staff", "lead", "admin", "department")
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# Verified against when the username is unknown, so that timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: str
    unit_id: str | None
    locale: str | None

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def records_in_field(self) -> bool:
        return self.role in ("officer", "staff", "lead")


class AccountError(ValueError):
    pass


class AccountInvalid(AccountError):
    """Field errors of a user form, already translated into the current language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10


def _user(row: dict | None) -> User | None:
    if row is None:
        return None
    return User(row["id"], row["username"], row["display_name"], row["role"], row["unit_id"], row["locale"])


def ensure_unit(db, name: str) -> str:
    """The id of the unit with this name, created when missing."""
    row = one(db, "SELECT id FROM units WHERE name = ?", [name])
    if row:
        return row["id"]
    unit_id = new_id()
    with write(db):
        db["units"].insert({"id": unit_id, "name": name, "created_at": now_iso()})
    return unit_id


def create_user(db, username: str, password: str, role: str, unit_id: str | None, display_name: str = "",
                created_by: str | None = None) -> User:
    """Create a user; the password is stored only as an argon2id hash."""
    username = username.strip().lower()
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}")
    if not username or len(username) > 64:
        raise AccountError("username must be 1-64 characters")
    if len(password) < 10:
        raise AccountError("password must be at least 10 characters")
    if one(db, "SELECT id FROM users WHERE username = ?", [username]):
        raise AccountError(f"user {username!r} exists already")
    now = now_iso()
    row = {
        "id": new_id(), "username": username, "display_name": display_name or username,
        "password_hash": _hasher.hash(password), "role": role, "unit_id": unit_id, "locale": None,
        "active": 1, "version": 1, "created_at": now, "updated_at": now, "created_by": created_by,
    }
    with write(db):
        db["users"].insert(row)
        audit.record(db, created_by, "create", "user", row["id"], f"role={role}")
    return _user(row)


def set_password(db, user_id: str, password: str, changed_by: str | None = None) -> None:
    if len(password) < 10:
        raise AccountError("password must be at least 10 characters")
    with write(db):
        db.execute("UPDATE users SET password_hash = ?, updated_at = ?, version = version + 1 WHERE id = ?",
                   [_hasher.hash(password), now_iso(), user_id])
        db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])
        audit.record(db, changed_by, "password", "user", user_id)


def login_candidate(db, username: str) -> tuple[User | None, str]:
    """(the active user with this name or None, the hash to check the password against).

    An unknown name gets a dummy hash, so checking it takes as long as checking a real one. The lookup and the
    check are apart so that the slow check can run away from the event loop (services/login.py)."""
    row = one(db, "SELECT * FROM users WHERE username = ? AND active = 1", [username.strip().lower()])
    return (_user(row), row["password_hash"]) if row else (None, _DUMMY_HASH)


def password_matches(password_hash: str, password: str) -> bool:
    """Whether the password fits the argon2id hash (CPU-bound, about 50 ms; safe to call from any thread)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(db, username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user, password_hash = login_candidate(db, username)
    return user if password_matches(password_hash, password) and user is not None else None


def record_failed_login(db, user: User | None, address: str, locked_seconds: float) -> None:
    """An audit row for a refused password: which account (None for an unknown name), from where, and whether
    the refusal locked further tries."""
    detail = f"address={address}" + ("" if user else " unknown_user")
    if locked_seconds:
        detail += f" locked={int(locked_seconds)}s"
    with write(db):
        audit.record(db, None, "login_failed", "user", user.id if user else None, detail)


def get_user(db, user_id: str) -> User | None:
    return _user(one(db, "SELECT * FROM users WHERE id = ? AND active = 1", [user_id]))


def by_username(db, username: str) -> User | None:
    return _user(one(db, "SELECT * FROM users WHERE username = ?", [username.strip().lower()]))


def set_locale(db, user_id: str, locale: str) -> None:
    with write(db):
        db.execute("UPDATE users SET locale = ?, updated_at = ? WHERE id = ?", [locale, now_iso(), user_id])


def _token_key(token: str) -> str:
    # Only a hash of the cookie value is stored, so a database copy does not hold live sessions.
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db, user: User, hours: int, max_hours: int = 12, device_id: str | None = None) -> tuple[str, str]:
    """Create a session (tied to the device it was started on, devices.py); returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    with write(db):
        db["sessions"].insert({
            "id": _token_key(token), "user_id": user.id, "csrf": csrf,
            "created_at": iso(now), "expires_at": iso(now + timedelta(hours=min(hours, max_hours))),
            "device_id": device_id,
        })
        db.execute("DELETE FROM sessions WHERE expires_at < ?", [iso(now)])
        audit.record(db, user.id, "login", "user", user.id)
    return token, csrf


def session_user(db, token: str | None, hours: int, max_hours: int = 12,
                 later: Callable[[Callable], None] | None = None) -> tuple[User, str, str | None] | None:
    """(user, csrf token, the device it was started on or None) of a live session; extends its expiry (sliding,
    at most once a minute), but never past max_hours after the login: a stolen cookie kept busy still dies.
    `later`: run the extension as later(fn), fn(db) (the web app gives it to its writer thread: the request does
    not wait for a write)."""
    if not token:
        return None
    key = _token_key(token)
    row = one(db, "SELECT s.csrf, s.expires_at, s.created_at AS session_started, s.device_id AS session_device, "
                  "u.* FROM sessions s "
                  "JOIN users u ON u.id = s.user_id WHERE s.id = ? AND u.active = 1", [key])
    now = utcnow()
    if row is None or row["expires_at"] < iso(now):
        return None
    last = iso(parse(row["session_started"]) + timedelta(hours=max_hours))
    if last < iso(now):
        return None
    new_expiry = min(iso(now + timedelta(hours=hours)), last)
    if new_expiry[:16] > row["expires_at"][:16]:
        if later is not None:
            later(functools.partial(extend_session, key=key, expires_at=new_expiry))
        else:
            extend_session(db, key, new_expiry)
    return _user(row), row["csrf"], row["session_device"]


def extend_session(db, key: str, expires_at: str) -> None:
    """A session's sliding expiry (never shortened: a later extension may have been written first)."""
    with write(db):
        db.execute("UPDATE sessions SET expires_at = ? WHERE id = ? AND expires_at < ?", [expires_at, key, expires_at])


def end_session(db, token: str | None) -> None:
    if token:
        with write(db):
            db.execute("DELETE FROM sessions WHERE id = ?", [_token_key(token)])


def expire_sessions_of(db, user_id: str, changed_by: str | None = None) -> int:
    """End every session of a user (lost phone, tests of expiry); returns how many were ended."""
    with write(db):
        ended = db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id]).rowcount
        if changed_by is not None:
            audit.record(db, changed_by, "end_sessions", "user", user_id, f"sessions={ended}")
    return ended


def validate_new_user(db, raw: dict) -> dict:
    """Check an administrator's new-user form; returns clean values or raises AccountInvalid."""
    def text(name: str) -> str:
        value = raw.get(name, "")
        value = value[-1] if isinstance(value, list) and value else value
        return value if isinstance(value, str) else ""

    values = {"username": text("username").strip().lower(), "display_name": clean(text("display_name")).strip(),
              "role": text("role").strip(), "unit_id": text("unit_id").strip(), "password": text("password")}
    errors: dict[str, str] = {}
    if not USERNAME_RE.match(values["username"]):
        errors["username"] = _("Use 2-64 characters: lower-case letters, digits, dot, dash or underscore.")
    elif one(db, "SELECT id FROM users WHERE username = ?", [values["username"]]):
        errors["username"] = _("This username is taken.")
    if len(values["display_name"]) > 80:
        errors["display_name"] = _("The name is too long (at most 80 characters).")
    elif find_identity_codes(values["display_name"]):
        errors["display_name"] = _("Remove the personal identity code from the name.")
    if values["role"] not in ROLES:
        errors["role"] = _("Choose a role.")
    if not one(db, "SELECT id FROM units WHERE id = ?", [values["unit_id"]]):
        errors["unit_id"] = _("Choose a unit.")
    password_error = password_problem(values["password"])
    if password_error:
        errors["password"] = password_error
    if errors:
        raise AccountInvalid(errors)
    return values


def password_problem(password: str) -> str | None:
    """Why a new password is not accepted (translated), or None."""
    if len(password) < MIN_PASSWORD:
        return _("The password must be at least %(n)s characters.", n=MIN_PASSWORD)
    if len(password) > 200:
        return _("The password is too long (at most 200 characters).")
    return None


def set_active(db, user_id: str, active: bool, changed_by: str | None = None) -> None:
    """Deactivate (sessions end at once, login refused) or reactivate a user; the row stays for the audit trail."""
    with write(db):
        db.execute("UPDATE users SET active = ?, updated_at = ?, updated_by = ?, version = version + 1 WHERE id = ?",
                   [int(active), now_iso(), changed_by, user_id])
        if not active:
            db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])
        audit.record(db, changed_by, "reactivate" if active else "deactivate", "user", user_id)


def user_row(db, user_id: str) -> dict | None:
    """A user for the administration pages (inactive ones too): no password hash, with unit name and sessions."""
    return one(db, """SELECT u.id, u.username, u.display_name, u.role, u.unit_id, u.active, u.created_at,
                             u.updated_at, n.name AS unit_name,
                             (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?) AS sessions
                      FROM users u LEFT JOIN units n ON n.id = u.unit_id WHERE u.id = ?""", [now_iso(), user_id])


def units(db) -> list[dict]:
    return list(db.query("SELECT id, name FROM units ORDER BY name"))


def list_users(db, unit_id: str | None = None) -> list[dict]:
    """Users (inactive ones too) with their unit's name, by role and username."""
    sql = ("SELECT u.id, u.username, u.display_name, u.role, u.unit_id, u.active, u.created_at, n.name AS unit_name "
           "FROM users u LEFT JOIN units n ON n.id = u.unit_id")
    params: list = []
    if unit_id:
        sql += " WHERE u.unit_id = ?"
        params.append(unit_id)
    return list(db.query(sql + " ORDER BY u.role, u.username", params))


def officers_of_unit(db, unit_id: str) -> list[dict]:
    """Users who can be assigned to deployments: officers, staff and leads of the unit."""
    return list(db.query(
        "SELECT id, username, display_name, role FROM users WHERE unit_id = ? AND active = 1 "
        "AND role IN ('officer', 'staff', 'lead') ORDER BY display_name", [unit_id]))
