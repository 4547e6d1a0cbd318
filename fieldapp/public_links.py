"""Public links: a lead publishes a partner summary as a read-only link with an expiry; partners open it without an
account. Every publishing, revoking and opening is in the audit log.

A link keeps the summary as it was published (picture.PartnerSummary as JSON, already under the disclosure
rule), so two openings cannot be subtracted from each other as the records change. The token is 32 random
bytes (secrets.token_urlsafe): it cannot be guessed, and it is the only thing a partner has.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import msgspec

from fieldapp import audit
from fieldapp.clock import iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.errors import NotFound
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id, new_id
from fieldapp.picture.disclosure import PartnerSummary

DEFAULT_DAYS = 14
MAX_DAYS = 90
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class LinkInvalid(ValueError):
    """Values a link cannot be published with; errors are field -> translated message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def parse_days(text: str | None) -> int:
    """How many days a link is open (1-MAX_DAYS; blank: DEFAULT_DAYS); LinkInvalid otherwise."""
    text = (text or "").strip()
    if not text:
        return DEFAULT_DAYS
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_DAYS:
        return int(text)
    raise LinkInvalid({"days": _("Enter a number of days from 1 to %(max)s.", max=MAX_DAYS)})


def publish(db, user, summary: PartnerSummary, query: dict, days: int) -> dict:
    """Keep this summary behind a new unguessable link of the lead's unit, open for `days`; audited."""
    now = utcnow()
    link = {"id": new_id(), "token": secrets.token_urlsafe(32), "unit_id": user.unit_id, "created_by": user.id,
            "created_at": iso(now), "expires_at": iso(now + timedelta(days=days)), "revoked_at": None,
            "revoked_by": None, "query": json.dumps(query, separators=(",", ":"), sort_keys=True),
            "summary": msgspec.json.encode(summary).decode()}
    with write(db):
        db["public_links"].insert(link)
        audit.record(db, user.id, "publish", "public_link", link["id"], json.dumps(
            {"expires_at": link["expires_at"], "query": query, "cells": len(summary.cells)}, separators=(",", ":")))
    return link


def state(link: dict, now=None) -> str:
    """open, expired or revoked."""
    if link["revoked_at"]:
        return "revoked"
    return "expired" if parse(link["expires_at"]) <= (now or utcnow()) else "open"


def for_unit(db, user) -> list[dict]:
    """The links of the lead's unit, newest first, each with its state, query and how often it was opened."""
    rows = [dict(r) for r in db.query(
        "SELECT l.*, u.display_name AS author, (SELECT count(*) FROM audit_log a WHERE a.record_type = 'public_link' "
        "AND a.record_id = l.id AND a.action = 'view' AND a.outcome = 'ok') AS openings "
        "FROM public_links l LEFT JOIN users u ON u.id = l.created_by WHERE l.unit_id = ? "
        "ORDER BY l.created_at DESC, l.id DESC", [user.unit_id])]
    now = utcnow()
    for row in rows:
        row["state"] = state(row, now)
        row["query"] = json.loads(row["query"])
    return rows


def revoke(db, user, link_id: str) -> dict:
    """Close a link of the lead's unit now (NotFound for another unit's or an unknown one); audited."""
    link = one(db, "SELECT * FROM public_links WHERE id = ? AND unit_id = ?", [link_id, user.unit_id]) \
        if is_valid_id(link_id) else None
    if link is None:
        raise NotFound(link_id)
    if link["revoked_at"]:
        return link
    with write(db):
        db.execute("UPDATE public_links SET revoked_at = ?, revoked_by = ? WHERE id = ?", [iso(utcnow()), user.id,
                                                                                         link_id])
        audit.record(db, user.id, "revoke", "public_link", link_id, "")
    return {**link, "revoked_at": "now"}


@dataclass
class Opened:
    """What opening a link found: its state (open, expired, revoked, unknown) and, while open, the summary."""

    state: str
    summary: PartnerSummary | None = None
    expires_at: str | None = None


def open_link(db, token: str, user_id: str | None = None) -> Opened:
    """The summary behind a token while the link is open. Every opening of a link is audited (user_id None for a
    partner, who has no account), also one that came too late; a token that names no link is not."""
    link = one(db, "SELECT * FROM public_links WHERE token = ?", [token]) if TOKEN_RE.fullmatch(token or "") \
        else None
    if link is None or not secrets.compare_digest(link["token"], token):
        return Opened("unknown")
    found = state(link)
    if found != "open":
        with write(db):
            audit.record(db, user_id, "view", "public_link", link["id"], json.dumps({"state": found}),
                         outcome="refused")
        return Opened(found, expires_at=link["expires_at"])
    audit.read(db, user_id, "view", "public_link", link["id"], state=found)
    return Opened("open", msgspec.json.decode(link["summary"], type=PartnerSummary), link["expires_at"])
