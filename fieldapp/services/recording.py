"""Recording from a form: one field record created, edited or deleted, then the projections.

A form's write is projected at once (unlike a sync batch, answered first and projected after), so the lead's
map is current when the page answers.
"""

from __future__ import annotations

from fieldapp import access, projections, records
from fieldapp.accounts import User


def create(db, user: User, kind_name: str, deployment_id: str, raw: dict, *, record_id: str | None = None,
           device_time: str | None = None) -> dict:
    """A new record in a deployment the user may record in; NotFound / Forbidden / ValidationFailed /
    IdConflict otherwise."""
    deployment = access.recordable(db, user, deployment_id)
    record = records.create(db, user, kind_name, deployment, raw, record_id=record_id, device_time=device_time)
    projections.catch_up(db, most=projections.CHUNK)  # a bounded step: a restart's backlog is the worker's
    return record


def editable(db, user: User, kind_name: str, record_id: str) -> tuple[dict, dict]:
    """(record, its deployment) if the user may edit the record; NotFound / Forbidden otherwise."""
    record = records.visible_record(db, user, kind_name, record_id)
    return record, access.editable(db, user, record)


def update(db, user: User, kind_name: str, record_id: str, raw: dict, *, base_version: int) -> dict:
    """An edit based on `base_version`; StaleVersion when someone saved a newer one meanwhile."""
    record, deployment = editable(db, user, kind_name, record_id)
    updated = records.update(db, user, kind_name, record, deployment, raw, base_version=base_version)
    projections.catch_up(db, most=projections.CHUNK)  # a bounded step: a restart's backlog is the worker's
    return updated


def delete(db, user: User, kind_name: str, record_id: str) -> dict:
    """Soft-delete; returns the record as it was (its deployment is where the officer goes next)."""
    record, _deployment = editable(db, user, kind_name, record_id)
    records.delete(db, user, kind_name, record)
    projections.catch_up(db, most=projections.CHUNK)  # a bounded step: a restart's backlog is the worker's
    return record
