"""What the three field records are called on screen: kinds, fields, audit actions and the URL slugs.

Shared by the record pages and the pending list (fieldapp/routes/records.py, routes/offline.py); lazy texts,
translated when shown. No web imports.
"""

from __future__ import annotations

from fieldapp.i18n import lazy

# URL plural (in /deployments/{id}/{slug}) -> record kind.
SLUGS = {"contacts": "contact", "tensions": "tension", "interventions": "intervention"}
KIND_SLUGS = {kind: slug for slug, kind in SLUGS.items()}

KIND_TEXT = {
    "contact": {"one": lazy("Contact"), "many": lazy("Contacts"), "new": lazy("New contact"),
                "edit": lazy("Edit contact"), "none": lazy("No contacts yet.")},
    "tension": {"one": lazy("Tension observation"), "many": lazy("Tension observations"),
                "new": lazy("New tension observation"), "edit": lazy("Edit tension observation"),
                "none": lazy("No tension observations yet.")},
    "intervention": {"one": lazy("Intervention"), "many": lazy("Interventions"), "new": lazy("New intervention"),
                     "edit": lazy("Edit intervention"), "none": lazy("No interventions yet.")},
}

FIELD_LABELS = {
    "occurred_at": lazy("Time"),
    "lat": lazy("Latitude"),
    "lon": lazy("Longitude"),
    "place_name": lazy("Place"),
    "notes": lazy("Notes"),
    "age_band": lazy("Age band"),
    "group_size": lazy("Group size"),
    "group_category": lazy("Community or group"),
    "language": lazy("Language used"),
    "topics": lazy("Topics"),
    "feedback_promised": lazy("Feedback promised"),
    "feedback_given": lazy("Feedback given"),
    "follow_up": lazy("Follow-up needed"),
    "referral_target": lazy("Referred to"),
    "referral_partner_id": lazy("Referred to a partner"),
    "channel": lazy("Channel"),
    "kind": lazy("Kind"),
    "groups": lazy("Groups involved"),
    "severity": lazy("Severity"),
    "trend": lazy("Trend"),
    "basis": lazy("Basis"),
    "people_estimate": lazy("Estimated number of people"),
    "outcome": lazy("Outcome"),
    "tension_id": lazy("Linked tension observation"),
    "contact_id": lazy("Linked contact"),
    "motives": lazy("Perceived motive"),
    "advised_to_report": lazy("Advised on how to report"),
    "offence_reported": lazy("Report of an offence made"),
    "id": lazy("Record"),
}

AUDIT_ACTIONS = {"create": lazy("Created"), "update": lazy("Edited"), "delete": lazy("Deleted"),
                 "sync": lazy("Created (synced from the device)")}
