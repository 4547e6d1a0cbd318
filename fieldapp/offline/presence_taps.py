"""Check-in and check-out taps from a device's outbox: each tap applied exactly once, at the time it was tapped.

No web imports. A tap carries an id made on the device; the answer to it is kept as an audit row (action
'presence_tap', detail 'tap id outcome') written in the same transaction as the presence change, so a resend
(lost acknowledgement, two senders) finds it and gets the same answer without touching presence again: a check-in
resent after the check-out that followed it never opens a second presence. The audit row is the receipt because
every presence change is audited anyway; a table of its own would need a migration for the same information.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import msgspec

from fieldapp import audit
from fieldapp import deployments as deployments_domain
from fieldapp.clock import parse, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, NotFound
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id

# A tap kept on a device longer than this is applied at the oldest time still believable.
OLDEST_TAP = timedelta(days=7)
TAPS_MAX = 100


class PresenceTap(msgspec.Struct, kw_only=True):
    id: str
    deployment_id: str
    action: Literal["check_in", "check_out"]
    at: str | None = None  # the device's clock at the tap


class PresenceTaps(msgspec.Struct, kw_only=True):
    taps: list[PresenceTap]


class TapResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: Literal["accepted", "duplicate", "rejected"]
    message: str | None = None
    message_code: str | None = None


def _tap_time(at: str | None):
    now = utcnow()
    try:
        when = parse(at) if at else now
    except (ValueError, OverflowError):
        when = now
    return min(max(when, now - OLDEST_TAP), now)


def apply(db, user, taps: list[PresenceTap]) -> list[TapResult]:
    """Apply taps in the order tapped; one answer per tap, a resend answered like the first time."""
    results = []
    for tap in taps[:TAPS_MAX]:
        results.append(_apply_one(db, user, tap))
    return results


def _apply_one(db, user, tap: PresenceTap) -> TapResult:
    if not is_valid_id(tap.id):
        code = "The record id is not valid."
        return TapResult(id=tap.id, status="rejected", message=_(code), message_code=code)
    with write(db):
        seen = one(db, "SELECT detail FROM audit_log WHERE record_type = 'deployment' AND record_id = ? AND "
                       "user_id = ? AND action = 'presence_tap' AND detail LIKE ?",
                   [tap.deployment_id, user.id, tap.id + " %"])
        if seen is not None:
            outcome = seen["detail"].split(" ", 1)[1]
            if outcome == "applied":
                return TapResult(id=tap.id, status="duplicate")
            return TapResult(id=tap.id, status="rejected", message=_(outcome), message_code=outcome)
        when = _tap_time(tap.at)
        code = None
        try:
            with write(db):  # a savepoint: a refused tap writes nothing but its receipt
                if tap.action == "check_in":
                    deployments_domain.check_in(db, user, tap.deployment_id, at=when)
                else:
                    deployments_domain.check_out(db, user, tap.deployment_id, at=when)
        except deployments_domain.PresenceClosed:
            code = "Check-in is possible from three hours before the start until the end."
        except (NotFound, Forbidden):
            code = "The deployment or record was not found."
        audit.record(db, user.id, "presence_tap", "deployment", tap.deployment_id, f"{tap.id} {code or 'applied'}")
    if code:
        return TapResult(id=tap.id, status="rejected", message=_(code), message_code=code)
    return TapResult(id=tap.id, status="accepted")
