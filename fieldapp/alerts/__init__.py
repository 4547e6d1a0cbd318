"""Alerts: a lead warns a deployment's people, rules warn the unit's leads; each alert reaches the in-app
inbox and, through the push queue, every device with alerts on.

One way down inside the package: rules -> messages -> deliveries, and subscriptions -> messages.

- messages.py       the alerts themselves: a lead's send, recipients, inbox and read state
- subscriptions.py  devices with alerts on (push subscriptions)
- deliveries.py     the push queue (push_deliveries), worked by fieldapp/push_worker.py
- rules.py          the automatic rules run by fieldapp/projections.py, and their thresholds

The names below are those the routes, projections, demo data and tests use; they are the package's
public face, so that callers need not know which module holds what. No web imports.
"""

from __future__ import annotations

from fieldapp.alerts.deliveries import (LEASE, TTL_SECONDS, URGENCY, can_see_deliveries, claim_due, delivery_report,
                                        next_due_at, record_outcomes)
from fieldapp.alerts.messages import (FIELD_ROLES, LEVELS, MAX_MESSAGE, AlertInvalid, alertable_deployments, cleanup,
                                      get_for_user, inbox, mark_read, send_alert, unread_count)
from fieldapp.alerts.rules import records_written
from fieldapp.alerts.subscriptions import (MAX_DEVICES, allowed_push_hosts, device_label, devices, endpoint_key,
                                           subscribe, unsubscribe)

__all__ = [
    "FIELD_ROLES", "LEASE", "LEVELS", "MAX_DEVICES", "MAX_MESSAGE", "TTL_SECONDS", "URGENCY", "AlertInvalid",
    "alertable_deployments", "allowed_push_hosts", "can_see_deliveries", "claim_due", "cleanup", "delivery_report",
    "device_label", "devices", "endpoint_key", "get_for_user", "inbox", "mark_read", "next_due_at", "record_outcomes",
    "records_written", "send_alert", "subscribe", "unread_count", "unsubscribe",
]
