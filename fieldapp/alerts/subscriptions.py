"""Devices with alerts on: a user's browser push subscriptions (push_subscriptions).

A subscription is checked before it is stored (a push service's host, a usable P-256 key and auth
secret), because the server later POSTs to its endpoint. Rows are removed by the user, or by the push
queue when the push service answers that the subscription is gone (fieldapp/alerts/deliveries.py).
No web imports.

(Not named devices.py: the package re-exports the function devices(), which would hide a submodule
of that name.)
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from fieldapp import audit
from fieldapp.accounts import User
from fieldapp.alerts.messages import FIELD_ROLES, AlertInvalid
from fieldapp.clock import iso, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden
from fieldapp.i18n import gettext as _
from fieldapp.ids import new_id

MAX_DEVICES = 10
# The browsers' push services; a subscription elsewhere would let a user make the server POST to any host.
PUBLIC_PUSH_HOSTS = ("fcm.googleapis.com", "push.services.mozilla.com", "notify.windows.com", "push.apple.com")


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def endpoint_key(endpoint: str) -> str:
    """A short fingerprint of an endpoint: lets the page recognise 'this device' without printing the URL."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:16]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def allowed_push_hosts(setting: str, loopback: bool | int = False) -> tuple[str, ...]:
    """Host suffixes from FIELDAPP_PUSH_HOSTS (comma-separated), or the public push services; the loopback only
    when FIELDAPP_PUSH_LOOPBACK says so (a local push service in tests and demos)."""
    hosts = tuple(h.strip().lower().lstrip(".") for h in (setting or "").split(",") if h.strip())
    return (hosts or PUBLIC_PUSH_HOSTS) + (LOOPBACK_HOSTS if loopback else ())


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    return any(host == suffix or host.endswith("." + suffix) for suffix in allowed)


def _endpoint_ok(endpoint: str, allowed: tuple[str, ...] = PUBLIC_PUSH_HOSTS) -> bool:
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    if not parts.hostname or parts.username or parts.password:
        return False
    # Push services speak https; plain http only on the loopback, and that only when allowed: otherwise any field
    # user could make the server post to its own ports.
    if parts.hostname.lower() in LOOPBACK_HOSTS:
        return parts.hostname.lower() in allowed and parts.scheme in ("http", "https")
    return parts.scheme == "https" and _host_allowed(parts.hostname.lower(), allowed)


def endpoint_allowed(endpoint: str, allowed: tuple[str, ...]) -> bool:
    """Whether the server may post to this push address (checked at subscribing and again at each send, so a row
    stored under other settings is not used)."""
    return _endpoint_ok(endpoint, allowed)


def validate_subscription(endpoint, p256dh, auth, allowed_hosts: tuple[str, ...] = PUBLIC_PUSH_HOSTS) -> dict:
    """Check a browser PushSubscription; returns clean values or raises AlertInvalid."""
    errors: dict[str, str] = {}
    endpoint = endpoint.strip() if isinstance(endpoint, str) else ""
    p256dh = p256dh.strip() if isinstance(p256dh, str) else ""
    auth = auth.strip() if isinstance(auth, str) else ""
    if not endpoint or len(endpoint) > 2048 or not _endpoint_ok(endpoint, allowed_hosts):
        errors["endpoint"] = _("The browser sent an unusable push address.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(p256dh))
    except (ValueError, TypeError):
        errors["p256dh"] = _("The browser sent an unusable encryption key.")
    try:
        if len(_b64url(auth)) != 16:
            raise ValueError
    except (ValueError, TypeError):
        errors["auth"] = _("The browser sent an unusable encryption key.")
    if errors:
        raise AlertInvalid(errors)
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}


def device_label(user_agent: str | None) -> str:
    """'Firefox · Android' from a User-Agent header: enough to tell one's devices apart."""
    ua = user_agent or ""
    browser = next((name for token, name in (
        ("Edg/", "Edge"), ("SamsungBrowser", "Samsung Internet"), ("Firefox/", "Firefox"), ("FxiOS", "Firefox"),
        ("CriOS", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari")) if token in ua), "")
    system = next((name for token, name in (
        ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
        ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")) if token in ua), "")
    return " · ".join(part for part in (browser, system) if part)


def subscribe(db, user: User, endpoint, p256dh, auth, user_agent: str | None = None,
              allowed_hosts: tuple[str, ...] = PUBLIC_PUSH_HOSTS) -> dict:
    """Turn alerts on for one device of this user (a browser endpoint moves to whoever subscribes it last)."""
    if user.role not in FIELD_ROLES:
        raise Forbidden("alerts are for field users")
    values = validate_subscription(endpoint, p256dh, auth, allowed_hosts)
    now = iso(utcnow())
    label = device_label(user_agent)
    with write(db):
        existing = one(db, "SELECT id, user_id FROM push_subscriptions WHERE endpoint = ?", [values["endpoint"]])
        if existing is None:
            count = one(db, "SELECT COUNT(*) AS n FROM push_subscriptions WHERE user_id = ?", [user.id])["n"]
            if count >= MAX_DEVICES:
                raise AlertInvalid({"endpoint": _(
                    "Alerts are on for %(n)s devices already. Turn them off on a device you no longer use.",
                    n=MAX_DEVICES)})
            subscription_id = new_id()
            db["push_subscriptions"].insert({
                "id": subscription_id, "user_id": user.id, **values, "user_agent": label,
                "created_at": now, "last_success_at": None})
        else:
            subscription_id = existing["id"]
            db.execute("UPDATE push_subscriptions SET user_id = ?, p256dh = ?, auth = ?, user_agent = ? WHERE id = ?",
                       [user.id, values["p256dh"], values["auth"], label, subscription_id])
        audit.record(db, user.id, "subscribe", "push_subscription", subscription_id, label)
    return one(db, "SELECT * FROM push_subscriptions WHERE id = ?", [subscription_id])


def unsubscribe(db, user: User, *, subscription_id: str | None = None, endpoint: str | None = None) -> bool:
    """Turn alerts off for one of the user's own devices; False when there was nothing to remove."""
    if subscription_id is not None:
        row = one(db, "SELECT id FROM push_subscriptions WHERE id = ? AND user_id = ?", [subscription_id, user.id])
    else:
        row = one(db, "SELECT id FROM push_subscriptions WHERE endpoint = ? AND user_id = ?", [endpoint or "", user.id])
    if row is None:
        return False
    with write(db):
        db.execute("DELETE FROM push_subscriptions WHERE id = ?", [row["id"]])
        audit.record(db, user.id, "unsubscribe", "push_subscription", row["id"])
    return True


def devices(db, user: User) -> list[dict]:
    """The user's subscribed devices, newest first (no endpoint URLs, only their fingerprints)."""
    rows = db.query("SELECT id, endpoint, user_agent, created_at, last_success_at FROM push_subscriptions "
                    "WHERE user_id = ? ORDER BY created_at DESC", [user.id])
    return [{"id": r["id"], "key": endpoint_key(r["endpoint"]), "label": r["user_agent"],
             "created_at": r["created_at"], "last_success_at": r["last_success_at"]} for r in rows]
