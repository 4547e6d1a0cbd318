"""Web Push: the server's VAPID key pair, the content-free payload, and one send through pywebpush.

The key pair is generated once and kept beside the database (mode 0600, never committed). The
payload carries only an alert id, a level and a generic title in the recipient's language: the
alert itself is fetched after the user opens the app and is logged in, so no place, group or
person name passes through the browser vendor's push service.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from fieldapp import i18n, retry
from fieldapp.alerts import LEVELS, TTL_SECONDS, URGENCY
from fieldapp.alerts.subscriptions import endpoint_allowed
from fieldapp.i18n import lazy

VAPID_FILE = ".vapid_private.pem"
CLAIM_HOURS = 12  # exp of the VAPID token; push services refuse more than 24 h
CONNECT_TIMEOUT = 3.05
TITLES = {
    "info": lazy("fieldapp: new information"),
    "warning": lazy("fieldapp: warning"),
    "urgent": lazy("fieldapp: urgent alert"),
}
BODY = lazy("Open fieldapp to read it.")


def vapid_key_path(settings) -> Path:
    return settings.data_dir / VAPID_FILE


def load_vapid(settings) -> Vapid:
    """The server's VAPID key pair, created on first use (two processes starting at once agree on one file)."""
    path = vapid_key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return Vapid(private_key=key)


def public_key(vapid: Vapid) -> str:
    """The applicationServerKey for pushManager.subscribe(): the uncompressed P-256 point, base64url."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def payload(alert_id: str, level: str, locale: str) -> bytes:
    """What the device gets: alert id, level and a generic title and body in the recipient's language."""
    level = level if level in LEVELS else "info"
    token = i18n.set_locale(locale)
    try:
        title, body = i18n.gettext(TITLES[level]), i18n.gettext(BODY)
    finally:
        i18n._current.reset(token)
    return json.dumps({"alert_id": alert_id, "level": level, "title": title, "body": body},
                      separators=(",", ":")).encode()


@dataclass
class Outcome:
    """What happened to one delivery: sent, expired (404/410), retry (429, 5xx, network) or failed."""

    delivery_id: int
    outcome: str
    status_code: int | None = None
    retry_after: float | None = None
    error: str = ""


def classify(delivery_id: int, status: int, retry_after: str | None, text: str = "") -> Outcome:
    """Map a push service's answer to what the queue does next."""
    if status < 300:
        return Outcome(delivery_id, "sent", status)
    if status in (404, 410):
        return Outcome(delivery_id, "expired", status, error="subscription gone")
    if status == 429 or status >= 500:
        return Outcome(delivery_id, "retry", status, retry.retry_after_seconds(retry_after), text[:200])
    return Outcome(delivery_id, "failed", status, error=text[:200])


def audience(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def send(delivery: dict, data: bytes, *, vapid: Vapid, subject: str, timeout: float, session=None,
         allowed_hosts: tuple[str, ...] | None = None) -> Outcome:
    """Encrypt (aes128gcm) and send one payload to one subscription; never raises for a push service's answer.

    allowed_hosts: the push hosts the settings allow; an endpoint outside them is not posted to."""
    if allowed_hosts is not None and not endpoint_allowed(delivery["endpoint"], allowed_hosts):
        return Outcome(delivery["id"], "failed", None, None, "push address not allowed by the settings")
    from pywebpush import WebPushException, webpush
    from requests import RequestException

    level = delivery["level"]
    # pywebpush writes aud and exp into the dict it is given: a fresh one for every send.
    claims = {"sub": subject, "aud": audience(delivery["endpoint"]), "exp": int(time.time()) + CLAIM_HOURS * 3600}
    subscription = {"endpoint": delivery["endpoint"], "keys": {"p256dh": delivery["p256dh"], "auth": delivery["auth"]}}
    try:
        response = webpush(subscription, data=data, vapid_private_key=vapid, vapid_claims=claims,
                           content_encoding="aes128gcm", ttl=TTL_SECONDS[level], timeout=(CONNECT_TIMEOUT, timeout),
                           headers={"Urgency": URGENCY[level]}, requests_session=session)
    except WebPushException as exc:
        if exc.response is None:
            return Outcome(delivery["id"], "retry", None, None, exc.message[:200])
        return classify(delivery["id"], exc.status_code, exc.retry_after, getattr(exc.response, "text", "") or "")
    except RequestException as exc:  # unreachable, refused or too slow: try again later
        return Outcome(delivery["id"], "retry", None, None, f"{type(exc).__name__}: {exc}"[:200])
    except Exception as exc:  # a broken subscription must not stop the queue
        return Outcome(delivery["id"], "failed", None, None, f"{type(exc).__name__}: {exc}"[:200])
    return Outcome(delivery["id"], "sent", response.status_code)
