"""Feedback given, from a device's outbox: each action applied exactly once, whatever the resends.

No web imports. An officer at a community visit without network marks a follow-up's feedback given; the outbox
keeps it (kind "feedback", an id made on the device) and sends it to POST /api/sync/followups like a presence tap.
The answer is kept in followup_actions (the action's id, a hash of what it said, the outcome), written in the same
transaction as the change, so a resend (lost acknowledgement, two senders) gets the first answer and changes
nothing; the same id with other content is refused (as the record sync answers a conflict).

An action carries how many reopenings the follow-up's page showed when the officer marked it (`reopenings`): one
made before a reopening (sent later, the device offline) is refused with REOPENED and stays in the device's list, so
the lead's reopening stands. An action without it (an older client's outbox) counts as having seen none: it closes
a follow-up never reopened, as before, and is refused on one that was reopened (the officer marks it again).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

import msgspec

from fieldapp import followups
from fieldapp.clock import iso, utcnow
from fieldapp.db import one, write
from fieldapp.errors import NotFound
from fieldapp.i18n import gettext as _
from fieldapp.i18n import lazy
from fieldapp.ids import is_valid_id
from fieldapp.offline import sealing
from fieldapp.offline.sync import seal_refusal

ACTIONS_MAX = 100
# The outcome codes kept with a receipt (English source texts, translated when answered).
NOT_FOUND = lazy("The follow-up was not found.")
CLOSED = lazy("This follow-up is already closed.")
OTHER_CONTENT = lazy("This id was already used for something else.")
INVALID = lazy("The values were refused.")
REOPENED = followups.REOPENED_SINCE


class FeedbackAction(msgspec.Struct, kw_only=True):
    id: str
    followup_id: str
    given_how: str = ""
    given_at: str | None = None  # the device's clock when the officer marked it
    note: str = ""
    # How many reopenings the page it was marked on showed; None: an older client's action (taken as 0).
    reopenings: Annotated[int, msgspec.Meta(ge=0)] | None = None
    sealed: sealing.SealedRecord | None = None  # the values as the device's outbox keeps them (fieldapp/offline/sealing.py)


class FeedbackActions(msgspec.Struct, kw_only=True):
    actions: list[FeedbackAction]


class ActionResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: Literal["accepted", "duplicate", "rejected"]
    message: str | None = None
    message_code: str | None = None
    errors: dict[str, str] = {}


def _digest(action: FeedbackAction) -> str:
    content = {"followup_id": action.followup_id, "given_how": action.given_how, "given_at": action.given_at,
               "note": action.note}
    if action.reopenings is not None:  # left out when absent: an older client's resend keeps its first digest
        content["reopenings"] = action.reopenings
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _rejected(action_id: str, code: str, errors: dict | None = None) -> ActionResult:
    return ActionResult(id=action_id, status="rejected", message=_(code), message_code=code, errors=errors or {})


def apply(db, user, actions: list[FeedbackAction], keys: sealing.Keyring | None = None) -> list[ActionResult]:
    """Apply the actions in the order made; one answer per action, a resend answered like the first time. A sealed
    action is opened with `keys` first (its values replace the plain fields); one that cannot be opened is refused
    and stays on the device, as a sealed record does (fieldapp/offline/sync.py)."""
    results = []
    for action in actions[:ACTIONS_MAX]:
        if action.sealed is not None:
            try:
                if keys is None:
                    raise sealing.SealBroken("unknown_key")
                _unseal(action, sealing.open_sealed(keys, action.sealed, user.username))
            except sealing.SealBroken as exc:
                results.append(ActionResult(id=action.id, status="rejected", message=seal_refusal(exc.code),
                                            message_code=exc.code))
                continue
        results.append(_apply_one(db, user, action))
    return results


def _unseal(action: FeedbackAction, values: dict) -> None:
    if str(values.get("followup_id") or "") != action.followup_id:
        raise sealing.SealBroken("tampered")  # the header names one follow-up, the sealed values another
    action.given_how = str(values.get("given_how") or "")
    action.given_at = values.get("given_at") or None
    action.note = str(values.get("note") or "")
    seen = values.get("reopenings")
    action.reopenings = seen if type(seen) is int and seen >= 0 else None


def _apply_one(db, user, action: FeedbackAction) -> ActionResult:
    if not is_valid_id(action.id):
        return _rejected(action.id, "The record id is not valid.")
    digest = _digest(action)
    with write(db):
        seen = one(db, "SELECT user_id, content_hash, outcome FROM followup_actions WHERE id = ?", [action.id])
        if seen is not None:
            if seen["user_id"] != user.id or seen["content_hash"] != digest:
                return _rejected(action.id, OTHER_CONTENT)
            if seen["outcome"] == "applied":
                return ActionResult(id=action.id, status="duplicate")
            return _rejected(action.id, seen["outcome"])
        code, errors = None, {}
        try:
            with write(db):  # a savepoint: a refused action writes nothing but its receipt
                followups.mark_given(db, user, action.followup_id, {
                    "given_how": action.given_how, "given_at": action.given_at, "note": action.note},
                    reopenings_seen=action.reopenings or 0)
        except NotFound:
            code = NOT_FOUND
        except followups.FollowupReopened:
            code = REOPENED
        except followups.FollowupInvalid as exc:
            code, errors = (CLOSED, {}) if "state" in exc.errors else (INVALID, exc.errors)
        db.execute("INSERT INTO followup_actions (id, followup_id, user_id, content_hash, outcome, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   [action.id, action.followup_id, user.id, digest, code or "applied", iso(utcnow())])
    if code:
        return _rejected(action.id, code, errors)
    return ActionResult(id=action.id, status="accepted")
